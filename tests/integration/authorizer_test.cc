// --authorizer: the application's backend, a real gRPC server in the test, decides who a
// browser is from its session cookie, and the gateway fails closed when it cannot ask.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "herald/v1/authorizer.grpc.pb.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"
#include "support/temp_dir.h"

namespace herald::testing {
namespace {

// A backend with cookie sessions: `session=<user>` is a user who may follow `chat.*` and their
// own `user.<name>`, and publish on `chat.*`; `session=nobody` is refused (403); no session is
// not logged in (401); `session=slow` answers after 10 s (or when the call is cancelled);
// `session=broken` answers a pattern that does not parse.
class CookieBackend final : public herald::v1::Authorizer::Service {
 public:
  grpc::Status Connect(grpc::ServerContext* context,
                       const herald::v1::AuthorizerConnectRequest* request,
                       herald::v1::AuthorizerConnectResponse* response) override {
    {
      absl::MutexLock lock(&mutex_);
      asked_.push_back(*request);
    }
    auto cookie = request->headers().find("cookie");
    std::string session;
    if (cookie != request->headers().end()) {
      size_t at = cookie->second.find("session=");
      if (at != std::string::npos) {
        session = cookie->second.substr(at + 8, cookie->second.find(';', at) - at - 8);
      }
    }
    if (session.empty()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "log in first");
    if (session == "nobody") {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "this account is suspended");
    }
    if (session == "slow") {
      // Answers after 10 s, or as soon as the gateway gave up.
      absl::Time until = absl::Now() + absl::Seconds(10);
      while (!context->IsCancelled() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(10));
    }
    response->set_user(session);
    response->add_subscribe("chat.*");
    response->add_subscribe("user." + session);
    response->add_publish("chat.*");
    response->set_expire_unix_s(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    if (session == "broken") response->add_subscribe("chat..*");
    return grpc::Status::OK;
  }

  std::vector<herald::v1::AuthorizerConnectRequest> asked() {
    absl::MutexLock lock(&mutex_);
    return asked_;
  }

 private:
  absl::Mutex mutex_;
  std::vector<herald::v1::AuthorizerConnectRequest> asked_ ABSL_GUARDED_BY(mutex_);
};

class AuthorizerTest : public GatewayTest {
 protected:
  void StartBackend() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &backend_port_);
    builder.RegisterService(&backend_);
    backend_server_ = builder.BuildAndStart();
    ASSERT_NE(backend_server_, nullptr);
  }

  void TearDown() override {
    if (backend_server_) backend_server_->Shutdown(std::chrono::system_clock::now());
  }

  std::string AuthorizerFlag() const {
    return "--authorizer=127.0.0.1:" + std::to_string(backend_port_);
  }

  WsHandshakeResult TryWs(const std::string& target,
                          std::vector<std::pair<std::string, std::string>> headers) {
    WsOptions options;
    options.headers = std::move(headers);
    return WsClient::TryConnect(loop_, http_port(), target, options);
  }

  CookieBackend backend_;
  int backend_port_ = 0;
  std::unique_ptr<grpc::Server> backend_server_;
};

bool WaitForCondition(const std::function<bool()>& condition) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

std::string HeaderOf(const HttpResponse& response, absl::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

TEST_F(AuthorizerTest, ACookieSessionGetsWhatTheBackendGrants) {
  StartBackend();
  StartGateway({AuthorizerFlag(), "--authorizer_timeout=1s"});
  WsHandshakeResult ws = TryWs("/ws?topic=chat.lobby&room=7",
                               {{"Cookie", "theme=dark; session=ada"},
                                {"User-Agent", "test-browser"},
                                {"X-Internal-Secret", "never forwarded"}});
  ASSERT_NE(ws.client, nullptr) << ws.http_status << " " << ws.response_body;
  ASSERT_TRUE(ws.client->WaitForConnected(kWait).has_value());
  ASSERT_TRUE(PublishForTest("chat.lobby", "hello ada").ok());
  ASSERT_TRUE(ws.client->WaitForEvents(1, kWait));
  EXPECT_EQ(ws.client->Events()[0].data(), "hello ada");

  // What the backend was told: the forwarded headers only, the query, the topics.
  std::vector<herald::v1::AuthorizerConnectRequest> asked = backend_.asked();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].transport(), "websocket");
  EXPECT_EQ(asked[0].remote_address(), "127.0.0.1");
  ASSERT_TRUE(asked[0].headers().contains("cookie"));
  EXPECT_EQ(asked[0].headers().at("cookie"), "theme=dark; session=ada");
  ASSERT_TRUE(asked[0].headers().contains("user-agent"));
  EXPECT_EQ(asked[0].headers().at("user-agent"), "test-browser");
  EXPECT_FALSE(asked[0].headers().contains("x-internal-secret"));
  EXPECT_FALSE(asked[0].headers().contains("host"));
  ASSERT_TRUE(asked[0].query().contains("room"));
  EXPECT_EQ(asked[0].query().at("room"), "7");
  EXPECT_FALSE(asked[0].query().contains("topic"));
  ASSERT_EQ(asked[0].topics_size(), 1);
  EXPECT_EQ(asked[0].topics(0), "chat.lobby");

  // The grant holds: the user's own topic over SSE, nobody else's; its publish patterns.
  std::shared_ptr<SseClient> own = ConnectSse("/sse?topic=user.ada", {"Cookie: session=ada"});
  ASSERT_TRUE(own);
  EXPECT_EQ(backend_.asked().back().transport(), "sse");
  HttpResponse other =
      Fetch(http_port(), "GET", "/sse?topic=user.bob", "", {{"Cookie", "session=ada"}});
  EXPECT_EQ(other.status, 403) << other.body;
  HttpResponse publish = Fetch(http_port(), "POST", "/v1/publish",
                               R"({"topic":"chat.lobby","data":"aGk="})",
                               {{"Cookie", "session=ada"}, {"Content-Type", "application/json"}});
  EXPECT_EQ(publish.status, 200) << publish.body;
  EXPECT_EQ(backend_.asked().back().transport(), "http");
  HttpResponse refused_publish = Fetch(http_port(), "POST", "/v1/publish",
                                       R"({"topic":"user.ada","data":"aGk="})",
                                       {{"Cookie", "session=ada"}});
  EXPECT_EQ(refused_publish.status, 403) << refused_publish.body;
  // The gRPC port, for backends, is not the Authorizer's to decide (no keys: open).
  EXPECT_TRUE(PublishForTest("user.ada", "to ada").ok());
  ASSERT_TRUE(own->WaitFor([&] { return DataEvents(*own).size() == 1; }, kWait));
}

TEST_F(AuthorizerTest, TheBackendsRefusalsAreAnsweredAsItSaid) {
  StartBackend();
  StartGateway({AuthorizerFlag()});
  HttpResponse anonymous = Fetch(http_port(), "GET", "/ws?topic=chat.lobby");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(anonymous.body.find("log in first"), std::string::npos) << anonymous.body;
  EXPECT_EQ(HeaderOf(anonymous, "WWW-Authenticate"), "Bearer");
  HttpResponse suspended =
      Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "", {{"Cookie", "session=nobody"}});
  EXPECT_EQ(suspended.status, 403);
  EXPECT_NE(suspended.body.find("this account is suspended"), std::string::npos)
      << suspended.body;
  WsHandshakeResult ws = TryWs("/ws?topic=chat.lobby", {{"Cookie", "session=nobody"}});
  EXPECT_EQ(ws.client, nullptr);
  EXPECT_EQ(ws.http_status, 403);
  HttpResponse history =
      Fetch(http_port(), "GET", "/v1/history?topic=chat.lobby", "", {});
  EXPECT_EQ(history.status, 401) << history.body;
}

TEST_F(AuthorizerTest, ASlowBrokenOrAbsentBackendLetsNobodyIn) {
  StartBackend();
  StartGateway({AuthorizerFlag(), "--authorizer_timeout=300ms"});
  // Past the deadline: 503, and the late answer changes nothing.
  absl::Time start = absl::Now();
  HttpResponse slow =
      Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "", {{"Cookie", "session=slow"}});
  EXPECT_EQ(slow.status, 503) << slow.body;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(HeaderOf(slow, "Retry-After"), "1");
  // A grant it cannot read: 503, and the log names the field.
  HttpResponse broken =
      Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "", {{"Cookie", "session=broken"}});
  EXPECT_EQ(broken.status, 503) << broken.body;
  EXPECT_TRUE(gateway_->WaitForLogLine("AuthorizerConnectResponse.subscribe", 5s));
  // Down: 503 at once.
  backend_server_->Shutdown(std::chrono::system_clock::now());
  backend_server_.reset();
  HttpResponse down =
      Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "", {{"Cookie", "session=ada"}});
  EXPECT_EQ(down.status, 503) << down.body;
  // The gateway goes on.
  EXPECT_TRUE(PublishForTest("chat.lobby", "still here").ok());
}

TEST_F(AuthorizerTest, AnotherSitesPageDoesNotGetTheUsersCookiesSentOn) {
  StartBackend();
  StartGateway({AuthorizerFlag()});
  HttpResponse foreign = Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "",
                               {{"Origin", "https://evil.example"}, {"Cookie", "session=ada"}});
  EXPECT_EQ(foreign.status, 401) << foreign.body;
  ASSERT_EQ(backend_.asked().size(), 1u);
  EXPECT_FALSE(backend_.asked()[0].headers().contains("cookie"));
  EXPECT_EQ(backend_.asked()[0].headers().at("origin"), "https://evil.example");
  // The gateway's own pages (Origin = its Host) and requests without an Origin have them.
  std::string own_origin = "http://127.0.0.1:" + std::to_string(http_port());
  std::shared_ptr<SseClient> own =
      ConnectSse("/sse?topic=chat.lobby", {"Origin: " + own_origin, "Cookie: session=ada"});
  ASSERT_TRUE(own);
  EXPECT_EQ(backend_.asked().back().headers().at("cookie"), "session=ada");
}

TEST_F(AuthorizerTest, PastTheCapOfCallsInFlightAClientIsRefusedAtOnce) {
  StartBackend();
  StartGateway({AuthorizerFlag(), "--authorizer_max_calls=1", "--authorizer_timeout=3s"});
  std::thread slow([&] {
    Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "", {{"Cookie", "session=slow"}});
  });
  ASSERT_TRUE(WaitForCondition([&] { return backend_.asked().size() == 1; }));
  absl::Time start = absl::Now();
  HttpResponse refused =
      Fetch(http_port(), "GET", "/sse?topic=chat.lobby", "", {{"Cookie", "session=ada"}});
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("too many calls in flight"), std::string::npos) << refused.body;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(backend_.asked().size(), 1u);
  slow.join();
  // The call ended: there is room again.
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=chat.lobby", {"Cookie: session=ada"});
  EXPECT_TRUE(sse);
}

TEST_F(AuthorizerTest, AVerifiedTokenNeedsNoCall) {
  constexpr char kSecret[] = "authorizer-test-secret-0123456789abcdef";
  TempDir dir;
  StartBackend();
  StartGateway({AuthorizerFlag(), "--jwt_hs256_secret_file=" + dir.Write("secret", kSecret)});
  absl::StatusOr<std::string> token =
      SignJwt("HS256", R"({"sub":"svc","subscribe":["feed"]})", kSecret);
  ASSERT_TRUE(token.ok());
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=feed&token=" + *token);
  ASSERT_TRUE(sse);
  EXPECT_TRUE(backend_.asked().empty());
  // No token, or one that does not verify: the backend is asked.
  std::shared_ptr<SseClient> cookie = ConnectSse("/sse?topic=chat.x", {"Cookie: session=ada"});
  ASSERT_TRUE(cookie);
  HttpResponse bad_token = Fetch(http_port(), "GET", "/sse?topic=chat.x&token=not.a.token");
  EXPECT_EQ(bad_token.status, 401);
  EXPECT_EQ(backend_.asked().size(), 2u);
}

TEST_F(AuthorizerTest, WithTheCacheAReconnectNeedsNoCall) {
  StartBackend();
  StartGateway({AuthorizerFlag(), "--authorizer_cache_ttl=3s"});
  for (int i = 0; i < 3; ++i) {
    std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=chat.a", {"Cookie: session=ada"});
    ASSERT_TRUE(sse);
  }
  EXPECT_EQ(backend_.asked().size(), 1u);
  // Another question (another session, other topics) is asked about; a refusal is not kept.
  ASSERT_TRUE(ConnectSse("/sse?topic=chat.a", {"Cookie: session=bob"}));
  ASSERT_TRUE(ConnectSse("/sse?topic=chat.b", {"Cookie: session=ada"}));
  EXPECT_EQ(backend_.asked().size(), 3u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Fetch(http_port(), "GET", "/sse?topic=chat.a", "", {{"Cookie", "session=nobody"}})
                  .status,
              403);
  }
  EXPECT_EQ(backend_.asked().size(), 5u);
  // Past the TTL the backend is asked again.
  absl::SleepFor(absl::Milliseconds(3100));
  ASSERT_TRUE(ConnectSse("/sse?topic=chat.a", {"Cookie: session=ada"}));
  EXPECT_EQ(backend_.asked().size(), 6u);
}

TEST_F(AuthorizerTest, BadFlagsStopTheStart) {
  CommandResult timeout = RunHerald("--authorizer=127.0.0.1:1 --authorizer_timeout=0s");
  EXPECT_EQ(timeout.exit_code, 2);
  EXPECT_NE(timeout.output.find("--authorizer_timeout must be more than 0s"), std::string::npos)
      << timeout.output;
  CommandResult cache = RunHerald("--authorizer=127.0.0.1:1 --authorizer_cache_ttl=2h");
  EXPECT_EQ(cache.exit_code, 2);
  EXPECT_NE(cache.output.find("--authorizer_cache_ttl must be 0s..1h"), std::string::npos)
      << cache.output;
  CommandResult calls = RunHerald("--authorizer=127.0.0.1:1 --authorizer_max_calls=0");
  EXPECT_EQ(calls.exit_code, 2);
  EXPECT_NE(calls.output.find("--authorizer_max_calls must be 1..1000000"), std::string::npos)
      << calls.output;
}

}  // namespace
}  // namespace herald::testing
