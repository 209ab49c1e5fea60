// Auth end to end: JWTs on /ws, /sse and /v1/publish, publisher keys and JWTs on gRPC, topic
// permissions, expiry and refresh, key reload on SIGHUP, and open mode said loudly.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "integration/gateway_test.h"
#include "support/temp_dir.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

constexpr const char* kSecret = "integration-secret-0123456789abcdef";
constexpr const char* kOrdersKey = "orders-backend-key-0123456789";

struct Claims {
  std::string sub = "ada";
  std::vector<std::string> subscribe = {"chat.>"};
  std::vector<std::string> publish = {"chat.lobby"};
  absl::Duration ttl = absl::Hours(1);
};

std::string JsonList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& item : items) quoted.push_back(absl::StrCat("\"", item, "\""));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

std::string Token(const Claims& claims, const std::string& secret = kSecret) {
  std::string json = absl::StrCat(
      R"({"sub":")", claims.sub, R"(","exp":)", absl::ToUnixSeconds(absl::Now() + claims.ttl),
      R"(,"subscribe":)", JsonList(claims.subscribe), R"(,"publish":)", JsonList(claims.publish),
      "}");
  absl::StatusOr<std::string> token = SignJwt("HS256", json, secret);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

class AuthTest : public GatewayTest {
 protected:
  void SetUp() override {
    secret_file_ = dir_.Write("secret", absl::StrCat(kSecret, "\n"));
    keys_file_ = dir_.Write("keys", absl::StrCat(kOrdersKey, " orders.> subscribe:orders.>\n"));
    StartGateway({"--jwt_hs256_secret_file=" + secret_file_, "--publisher_keys_file=" + keys_file_,
                  "--jwt_leeway=0s", "--allowed_origins=https://*.example.com"});
  }

  WsHandshakeResult TryWs(const std::string& target,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    WsOptions options;
    options.headers = std::move(headers);
    return WsClient::TryConnect(loop_, http_port(), target, options);
  }

  std::shared_ptr<WsClient> Ws(const std::string& target) {
    WsHandshakeResult result = TryWs(target);
    EXPECT_EQ(result.http_status, 101) << result.response_body;
    if (result.client) {
      EXPECT_TRUE(result.client->WaitForConnected(kWait).has_value());
    }
    return result.client;
  }

  grpc::Status PublishWith(const std::string& credential, const std::string& topic,
                           herald::v1::PublishResponse* response = nullptr) {
    return PublishWith(credential, Request(topic, "payload"), response);
  }
  grpc::Status PublishWith(const std::string& credential, const herald::v1::PublishRequest& request,
                           herald::v1::PublishResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    if (!credential.empty()) context.AddMetadata("authorization", "Bearer " + credential);
    herald::v1::PublishResponse ignored;
    return publisher_->Publish(&context, request, response ? response : &ignored);
  }

  // A live gRPC Subscribe call to `topic` with `credential`.
  std::unique_ptr<grpc::ClientReader<herald::v1::Event>> SubscribeWith(
      grpc::ClientContext& context, const std::string& credential, const std::string& topic) {
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    context.AddMetadata("authorization", "Bearer " + credential);
    herald::v1::SubscribeRequest request;
    request.add_topics(topic);
    std::unique_ptr<grpc::ClientReader<herald::v1::Event>> call =
        subscriber_->Subscribe(&context, request);
    call->WaitForInitialMetadata();
    return call;
  }

  static herald::v1::ClientMessage Command(uint32_t id) {
    herald::v1::ClientMessage message;
    message.set_id(id);
    return message;
  }

  TempDir dir_;
  std::string secret_file_;
  std::string keys_file_;
};

TEST_F(AuthTest, WebSocketHandshakeNeedsAValidTokenThatCoversItsTopics) {
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby").http_status, 401);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=not.a.token").http_status, 401);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + Token({}, "another-secret-0123456789abcdef"))
                .http_status,
            401);
  Claims expired;
  expired.ttl = -absl::Minutes(1);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + Token(expired)).http_status, 401);
  WsHandshakeResult forbidden = TryWs("/ws?topic=chat.lobby&topic=admin.logs&token=" + Token({}));
  EXPECT_EQ(forbidden.http_status, 403);
  EXPECT_NE(forbidden.response_body.find("admin.logs"), std::string::npos);

  // The three ways a browser can present it.
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + Token({})).http_status, 101);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby", {{"Authorization", "Bearer " + Token({})}}).http_status,
            101);
  EXPECT_EQ(
      TryWs("/ws?topic=chat.lobby", {{"Cookie", "theme=dark; herald_token=" + Token({})}})
          .http_status,
      101);
}

TEST_F(AuthTest, ForgedTokensAreRefused) {
  // alg none, with and without a signature part.
  std::string header_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";  // {"alg":"none","typ":"JWT"}
  std::string payload = "eyJzdWIiOiJldmUiLCJzdWJzY3JpYmUiOlsiPiJdfQ";  // {"sub":"eve","subscribe":[">"]}
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + header_none + "." + payload + ".").http_status,
            401);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + header_none + "." + payload).http_status, 401);
  // A valid token with its payload swapped for one granting everything.
  std::string good = Token({});
  size_t first_dot = good.find('.');
  size_t second_dot = good.find('.', first_dot + 1);
  std::string swapped = good.substr(0, first_dot + 1) + payload + good.substr(second_dot);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + swapped).http_status, 401);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + std::string(7000, 'a')).http_status, 401);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=" + std::string(9000, 'a')).http_status, 431);
  EXPECT_TRUE(gateway_->Running());
}

TEST_F(AuthTest, CommandsOnALiveWebSocketAreCheckedAndRefusalsKeepTheConnection) {
  std::shared_ptr<WsClient> ws = Ws("/ws?token=" + Token({}));
  ASSERT_TRUE(ws);

  herald::v1::ClientMessage subscribe = Command(1);
  subscribe.mutable_subscribe()->set_topic("admin.logs");
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> refused = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error().code(), grpc::StatusCode::PERMISSION_DENIED);

  herald::v1::ClientMessage publish = Command(2);
  publish.mutable_publish()->set_topic("chat.other");
  publish.mutable_publish()->set_data("hi");
  ws->Send(publish);
  std::optional<herald::v1::Reply> refused_publish = ws->WaitForReply(2, kWait);
  ASSERT_TRUE(refused_publish.has_value());
  EXPECT_EQ(refused_publish->error().code(), grpc::StatusCode::PERMISSION_DENIED);

  subscribe = Command(3);
  subscribe.mutable_subscribe()->set_topic("chat.lobby");
  ws->Send(subscribe);
  ASSERT_TRUE(ws->WaitForReply(3, kWait).has_value());
  publish = Command(4);
  publish.mutable_publish()->set_topic("chat.lobby");
  publish.mutable_publish()->set_data("allowed");
  ws->Send(publish);
  std::optional<herald::v1::Reply> published = ws->WaitForReply(4, kWait);
  ASSERT_TRUE(published.has_value());
  EXPECT_FALSE(published->has_error()) << published->error().message();
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_EQ(ws->Events()[0].data(), "allowed");
  EXPECT_FALSE(ws->Ended());
}

TEST_F(AuthTest, AnExpiredWebSocketIsToldAndClosedWith4401UnlessRefreshed) {
  Claims short_lived;
  short_lived.ttl = absl::Seconds(2);
  std::shared_ptr<WsClient> expiring = Ws("/ws?topic=chat.lobby&token=" + Token(short_lived));
  std::shared_ptr<WsClient> refreshed = Ws("/ws?topic=chat.lobby&token=" + Token(short_lived));
  ASSERT_TRUE(expiring && refreshed);

  // A token for someone else is refused; the connection goes on.
  herald::v1::ClientMessage other = Command(1);
  Claims eve;
  eve.sub = "eve";
  other.mutable_refresh()->set_token(Token(eve));
  refreshed->Send(other);
  std::optional<herald::v1::Reply> refused = refreshed->WaitForReply(1, kWait);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error().code(), grpc::StatusCode::PERMISSION_DENIED);

  herald::v1::ClientMessage refresh = Command(2);
  refresh.mutable_refresh()->set_token(Token({}));
  refreshed->Send(refresh);
  std::optional<herald::v1::Reply> reply = refreshed->WaitForReply(2, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->has_error()) << reply->error().message();
  EXPECT_GT(reply->refreshed().expires_unix_ms(),
            static_cast<uint64_t>(absl::ToUnixMillis(absl::Now() + absl::Minutes(50))));

  EXPECT_EQ(expiring->WaitForClose(kWait), std::optional<uint16_t>(4401));
  ASSERT_TRUE(expiring->Disconnect().has_value());
  EXPECT_EQ(expiring->Disconnect()->code(), 4401u);

  ASSERT_TRUE(PublishWith(Token({}), "chat.lobby").ok());
  ASSERT_TRUE(refreshed->WaitForEvents(1, kWait));
  EXPECT_FALSE(refreshed->Ended());
}

TEST_F(AuthTest, SseNeedsATokenAndEndsWhenItExpires) {
  std::shared_ptr<SseClient> refused = SseClient::Connect(loop_, http_port(), "/sse?topic=chat.a");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->StatusCode(), 401);
  std::shared_ptr<SseClient> forbidden =
      SseClient::Connect(loop_, http_port(), "/sse?topic=admin.logs&token=" + Token({}));
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->StatusCode(), 403);

  Claims short_lived;
  short_lived.ttl = absl::Seconds(2);
  std::shared_ptr<SseClient> sse =
      ConnectSse("/sse?topic=chat.a", {"Cookie: herald_token=" + Token(short_lived)});
  ASSERT_TRUE(sse);
  EXPECT_EQ(PublishWith(std::string(kOrdersKey), "chat.a").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(sse->WaitForEnd(kWait));
  std::vector<SseEvent> events = sse->Events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "herald.disconnect");
  EXPECT_NE(events.back().data.find("4401"), std::string::npos);
}

TEST_F(AuthTest, HttpPublishChecksTheTokenAndAnswersCors) {
  std::string body = R"({"topic":"chat.lobby","data":"aGk=","content_type":"text/plain"})";
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", body).status, 401);
  Claims reader;
  reader.publish = {};
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", body,
                  {{"Authorization", "Bearer " + Token(reader)}})
                .status,
            403);
  HttpResponse ok = Fetch(http_port(), "POST", "/v1/publish", body,
                          {{"Authorization", "Bearer " + Token({})},
                           {"Origin", "https://app.example.com"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Header("Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(ok.Header("Access-Control-Allow-Credentials"), "true");
  // A backend's publisher key works on HTTP too.
  std::string orders = R"({"topic":"orders.new","data":"aGk="})";
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", orders,
                  {{"Authorization", absl::StrCat("Bearer ", kOrdersKey)}})
                .status,
            200);

  HttpResponse preflight = Fetch(http_port(), "OPTIONS", "/v1/publish", "",
                                 {{"Origin", "https://app.example.com"},
                                  {"Access-Control-Request-Method", "POST"},
                                  {"Access-Control-Request-Headers", "authorization"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.Header("Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_NE(preflight.Header("Access-Control-Allow-Headers").value_or("").find("Authorization"),
            std::string::npos);
  EXPECT_EQ(Fetch(http_port(), "OPTIONS", "/v1/publish", "", {{"Origin", "https://evil.io"}})
                .status,
            403);
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", body,
                  {{"Authorization", "Bearer " + Token({})}, {"Origin", "https://evil.io"}})
                .status,
            403);
}

TEST_F(AuthTest, GrpcPublishersPresentAKeyOrAToken) {
  EXPECT_EQ(PublishWith("", "orders.new").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(PublishWith("wrong-key-0123456789", "orders.new").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(PublishWith(std::string(kOrdersKey), "chat.lobby").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  herald::v1::PublishResponse response;
  grpc::Status ok = PublishWith(std::string(kOrdersKey), "orders.eu.new", &response);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(response.offset(), 1u);
  EXPECT_TRUE(PublishWith(Token({}), "chat.lobby").ok());
}

TEST_F(AuthTest, PublishStreamRefusesForbiddenItemsAndGoesOn) {
  grpc::ClientContext refused_context;
  refused_context.set_deadline(std::chrono::system_clock::now() + kWait);
  auto refused = publisher_->PublishStream(&refused_context);
  refused->WritesDone();
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kOrdersKey));
  auto stream = publisher_->PublishStream(&context);
  std::vector<std::string> topics = {"orders.a", "chat.lobby", "orders.b"};
  for (const std::string& topic : topics) {
    ASSERT_TRUE(stream->Write(Request(topic, "x")));
    herald::v1::PublishResponse response;
    ASSERT_TRUE(stream->Read(&response));
    if (topic == "chat.lobby") {
      EXPECT_EQ(response.error().code(), grpc::StatusCode::PERMISSION_DENIED);
    } else {
      EXPECT_FALSE(response.has_error()) << response.error().message();
      EXPECT_EQ(response.offset(), 1u);
    }
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(AuthTest, PublishBatchRefusesForbiddenItemsAndPublishesTheOthers) {
  herald::v1::PublishBatchRequest batch;
  for (const char* topic : {"orders.a", "chat.lobby", "orders.a"}) {
    *batch.add_requests() = Request(topic, "x");
  }
  herald::v1::PublishBatchResponse response;
  grpc::ClientContext anonymous;
  anonymous.set_deadline(std::chrono::system_clock::now() + kWait);
  EXPECT_EQ(publisher_->PublishBatch(&anonymous, batch, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kOrdersKey));
  grpc::Status status = publisher_->PublishBatch(&context, batch, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.responses_size(), 3);
  EXPECT_EQ(response.responses(0).offset(), 1u);
  EXPECT_EQ(response.responses(1).error().code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(response.responses(2).offset(), 2u);
  EXPECT_FALSE(response.responses(2).has_error());
}

TEST_F(AuthTest, GrpcSubscribeAndHistoryAreChecked) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kOrdersKey));
  herald::v1::HistoryRequest request;
  request.set_topic("chat.lobby");
  herald::v1::HistoryResponse response;
  EXPECT_EQ(subscriber_->History(&context, request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext anonymous;
  anonymous.set_deadline(std::chrono::system_clock::now() + kWait);
  request.set_topic("orders.new");
  EXPECT_EQ(subscriber_->History(&anonymous, request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext allowed;
  allowed.set_deadline(std::chrono::system_clock::now() + kWait);
  allowed.AddMetadata("authorization", absl::StrCat("Bearer ", kOrdersKey));
  EXPECT_TRUE(subscriber_->History(&allowed, request, &response).ok());

  grpc::ClientContext subscribe_context;
  subscribe_context.set_deadline(std::chrono::system_clock::now() + kWait);
  subscribe_context.AddMetadata("authorization", absl::StrCat("Bearer ", kOrdersKey));
  herald::v1::SubscribeRequest subscribe;
  subscribe.add_topics("orders.new");
  subscribe.add_topics("chat.lobby");
  auto reader = subscriber_->Subscribe(&subscribe_context, subscribe);
  herald::v1::Event event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthTest, SighupReloadsKeysAndLiveConnectionsStay) {
  std::shared_ptr<WsClient> ws = Ws("/ws?topic=orders.eu&token=" +
                                    Token({.subscribe = {"orders.>"}}));
  ASSERT_TRUE(ws);
  dir_.Write("keys", "rotated-backend-key-0123456789 orders.>\n");
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded", kWait));
  EXPECT_EQ(PublishWith(std::string(kOrdersKey), "orders.eu").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(PublishWith("rotated-backend-key-0123456789", "orders.eu").ok());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_FALSE(ws->Ended());

  // A broken file is refused and the keys in use stay.
  dir_.Write("keys", "broken\n");
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("keys kept as they were", kWait));
  EXPECT_TRUE(PublishWith("rotated-backend-key-0123456789", "orders.eu").ok());
  EXPECT_TRUE(gateway_->Running());
}

// A key removed by a reload stops working at once, and what it opened (a PublishStream, a
// Subscribe call, a WebSocket) is closed; what other credentials opened stays.
TEST_F(AuthTest, AKeyRemovedByAReloadEndsWhatItOpened) {
  grpc::ClientContext stream_context;
  stream_context.set_deadline(std::chrono::system_clock::now() + kWait);
  stream_context.AddMetadata("authorization", absl::StrCat("Bearer ", kOrdersKey));
  auto stream = publisher_->PublishStream(&stream_context);
  ASSERT_TRUE(stream->Write(Request("orders.a", "x")));
  herald::v1::PublishResponse answer;
  ASSERT_TRUE(stream->Read(&answer));

  grpc::ClientContext subscribe_context;
  auto subscription = SubscribeWith(subscribe_context, kOrdersKey, "orders.a");
  std::shared_ptr<WsClient> with_key = Ws(absl::StrCat("/ws?topic=orders.a&token=", kOrdersKey));
  std::shared_ptr<WsClient> with_token = Ws("/ws?topic=chat.lobby&token=" + Token({}));
  ASSERT_TRUE(with_key && with_token);

  dir_.Write("keys", "rotated-backend-key-0123456789 orders.>\n");
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: auth", kWait));

  EXPECT_FALSE(stream->Read(&answer));
  grpc::Status ended = stream->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();
  herald::v1::Event event;
  EXPECT_FALSE(subscription->Read(&event));
  EXPECT_EQ(subscription->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(with_key->WaitForClose(kWait), std::optional<uint16_t>(4401));
  EXPECT_EQ(PublishWith(std::string(kOrdersKey), "orders.a").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(PublishWith(Token({}), "chat.lobby").ok());
  EXPECT_TRUE(with_token->WaitForEvents(1, kWait));
  EXPECT_FALSE(with_token->Ended());
}

TEST_F(AuthTest, AKeyPastItsExpiryIsRefusedAndWhatItOpenedIsClosed) {
  grpc::ClientContext subscribe_context;
  auto subscription = SubscribeWith(subscribe_context, kOrdersKey, "orders.a");
  dir_.Write("keys", absl::StrCat(kOrdersKey, " orders.> expires=2020-01-01T00:00:00Z\n",
                                  "rotated-backend-key-0123456789 orders.> "
                                  "expires=2100-01-01T00:00:00Z\n"));
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: auth", kWait));
  grpc::Status expired = PublishWith(std::string(kOrdersKey), "orders.a");
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(expired.error_message().find("expired"), std::string::npos);
  EXPECT_TRUE(PublishWith("rotated-backend-key-0123456789", "orders.b").ok());
  herald::v1::Event event;
  EXPECT_FALSE(subscription->Read(&event));
  EXPECT_EQ(subscription->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// A reload that gives a key in use a future expiry: what the key opened before is closed when
// that time comes, with no further reload.
TEST_F(AuthTest, AnExpiryAReloadSetsClosesWhatTheKeyOpenedBeforeWhenItComes) {
  grpc::ClientContext subscribe_context;
  auto subscription = SubscribeWith(subscribe_context, kOrdersKey, "orders.a");
  ASSERT_TRUE(PublishWith(std::string(kOrdersKey), "orders.a").ok());
  herald::v1::Event event;
  ASSERT_TRUE(subscription->Read(&event));
  absl::Time expires = absl::Now() + absl::Seconds(5);
  dir_.Write("keys", absl::StrCat(kOrdersKey, " orders.> subscribe:orders.> expires=",
                                  absl::FormatTime(absl::RFC3339_full, expires, absl::UTCTimeZone()),
                                  "\n"));
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: auth", kWait));
  ASSERT_TRUE(PublishWith(std::string(kOrdersKey), "orders.a").ok());  // Not expired yet.
  ASSERT_TRUE(subscription->Read(&event));
  EXPECT_FALSE(subscription->Read(&event));  // Ended by the expiry, not by the deadline.
  EXPECT_EQ(subscription->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_GE(absl::Now(), expires);
  EXPECT_LT(absl::Now(), expires + absl::Seconds(4));  // Within a second, with room for a slow CI.
}

TEST_F(AuthTest, AGoodClientKeepsEveryEventWhileHostileOnesAreRefused) {
  std::shared_ptr<WsClient> good = Ws("/ws?topic=chat.lobby&token=" + Token({}));
  ASSERT_TRUE(good);
  constexpr int kEvents = 50;
  for (int i = 1; i <= kEvents; ++i) {
    ASSERT_TRUE(PublishWith(Token({}), "chat.lobby").ok());
    if (i % 10 == 0) {
      EXPECT_EQ(TryWs("/ws?topic=chat.lobby&token=garbage").http_status, 401);
      EXPECT_EQ(TryWs("/ws?topic=admin&token=" + Token({})).http_status, 403);
      EXPECT_EQ(PublishWith("", "chat.lobby").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
  }
  ASSERT_TRUE(good->WaitForEvents(kEvents, kWait));
  std::vector<herald::v1::Event> events = good->Events();
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(events[i].offset(), static_cast<uint64_t>(i + 1));
}

TEST_F(AuthTest, AGrpcSubscriptionEndsWhenItsTokenExpires) {
  Claims short_lived;
  short_lived.ttl = absl::Seconds(2);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  context.AddMetadata("authorization", "Bearer " + Token(short_lived));
  herald::v1::SubscribeRequest request;
  request.add_topics("chat.lobby");
  auto reader = subscriber_->Subscribe(&context, request);
  herald::v1::Event event;
  while (reader->Read(&event)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

TEST_F(AuthTest, ARefreshNeedsASub) {
  Claims anonymous;
  anonymous.sub = "";
  std::shared_ptr<WsClient> ws = Ws("/ws?token=" + Token(anonymous));
  ASSERT_TRUE(ws);
  herald::v1::ClientMessage refresh = Command(1);
  refresh.mutable_refresh()->set_token(Token(anonymous));
  ws->Send(refresh);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::PERMISSION_DENIED);
}

// With --jwt_require_exp a token without exp is refused at the door (it would never expire);
// --jwt_max_lifetime refuses one that expires too far ahead.
TEST_F(AuthTest, TokensThatLiveTooLongAreRefusedWhenTheGatewayAsks) {
  absl::StatusOr<std::string> forever =
      SignJwt("HS256", R"({"sub":"ada","subscribe":["chat.>"]})", kSecret);
  ASSERT_TRUE(forever.ok());
  std::unique_ptr<GatewayProcess> strict = GatewayProcess::Start(
      {"--jwt_hs256_secret_file=" + secret_file_, "--jwt_require_exp",
       "--jwt_max_lifetime=2h"});
  ASSERT_NE(strict, nullptr);
  WsHandshakeResult refused =
      WsClient::TryConnect(loop_, strict->http_port(), "/ws?topic=chat.a&token=" + *forever);
  EXPECT_EQ(refused.http_status, 401);
  EXPECT_NE(refused.response_body.find("missing exp claim"), std::string::npos)
      << refused.response_body;
  Claims long_lived;
  long_lived.ttl = absl::Hours(24);
  EXPECT_EQ(WsClient::TryConnect(loop_, strict->http_port(),
                                 "/ws?topic=chat.a&token=" + Token(long_lived))
                .http_status,
            401);
  EXPECT_EQ(
      WsClient::TryConnect(loop_, strict->http_port(), "/ws?topic=chat.a&token=" + Token({}))
          .http_status,
      101);
  // The default keeps taking tokens without exp (this fixture's gateway).
  EXPECT_EQ(TryWs("/ws?topic=chat.a&token=" + *forever).http_status, 101);
}

// Pages the gateway serves come from its own origin: allowed whatever --allowed_origins says
// (the demo and the SDK's own page work once origins are set), while other origins stay refused.
TEST_F(AuthTest, TheGatewaysOwnOriginIsAlwaysAllowed) {
  std::string own = absl::StrCat("http://127.0.0.1:", http_port());
  std::string cookie = "herald_token=" + Token({});
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby", {{"Cookie", cookie}, {"Origin", own}}).http_status, 101);
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/history?topic=chat.lobby", "",
                  {{"Cookie", cookie}, {"Origin", own}})
                .status,
            200);
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby", {{"Cookie", cookie}, {"Origin", "http://127.0.0.2:1"}})
                .http_status,
            403);
  // The refused page may read why (the SDK's follow-up GET /ws), never with credentials.
  HttpResponse refused = Fetch(http_port(), "GET", "/ws?topic=chat.lobby", "",
                               {{"Origin", "https://evil.io"}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.Header("Access-Control-Allow-Origin"), "*");
  EXPECT_FALSE(refused.Header("Access-Control-Allow-Credentials").has_value());
  EXPECT_NE(refused.body.find("origin https://evil.io is not allowed"), std::string::npos)
      << refused.body;
}

TEST_F(AuthTest, TheCookieCountsOnlyForTrustedOrigins) {
  std::string cookie = "herald_token=" + Token({});
  EXPECT_EQ(TryWs("/ws?topic=chat.lobby", {{"Cookie", cookie}, {"Origin", "https://app.example.com"}})
                .http_status,
            101);
  // Any origin allowed, and the cookie of a page from elsewhere does not count.
  std::unique_ptr<GatewayProcess> open_origins = GatewayProcess::Start(
      {"--jwt_hs256_secret_file=" + secret_file_, "--jwt_leeway=0s"});
  ASSERT_NE(open_origins, nullptr);
  WsOptions options;
  options.headers = {{"Cookie", cookie}, {"Origin", "https://evil.io"}};
  EXPECT_EQ(WsClient::TryConnect(loop_, open_origins->http_port(), "/ws?topic=chat.lobby", options)
                .http_status,
            401);
  options.headers = {{"Cookie", cookie}};
  EXPECT_EQ(WsClient::TryConnect(loop_, open_origins->http_port(), "/ws?topic=chat.lobby", options)
                .http_status,
            101);
  // Pages from any origin may read answers, never with credentials.
  HttpResponse cors = Fetch(open_origins->http_port(), "OPTIONS", "/v1/publish", "",
                            {{"Origin", "https://evil.io"}});
  EXPECT_EQ(cors.status, 204);
  EXPECT_EQ(cors.Header("Access-Control-Allow-Origin"), "*");
  EXPECT_FALSE(cors.Header("Access-Control-Allow-Credentials").has_value());
}

TEST(AuthModeTest, AShortHs256SecretStopsTheStart) {
  GatewayOptions options;
  options.args = {"--jwt_hs256_secret=too-short"};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->WaitForExit(kWait), std::optional<int>(2));
  EXPECT_TRUE(gateway->WaitForLogLine("at least 32 bytes", kWait));
}

TEST(AuthModeTest, OpenModeSaysSoAndRequiredModeRefusesToStartWithoutKeys) {
  std::unique_ptr<GatewayProcess> open = GatewayProcess::Start({"--jwt_hs256_secret="});
  ASSERT_NE(open, nullptr);
  EXPECT_TRUE(open->SawLogLine("AUTH IS OFF"));

  GatewayOptions options;
  options.args = {"--auth=required"};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> required = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(required, nullptr);
  EXPECT_EQ(required->WaitForExit(kWait), std::optional<int>(2));
  EXPECT_TRUE(required->WaitForLogLine("--auth=required needs keys", kWait));
}

TEST(AuthModeTest, TheLoggedConfigurationHidesSecrets) {
  std::unique_ptr<GatewayProcess> gateway =
      GatewayProcess::Start({"--jwt_hs256_secret=do-not-print-this-secret-0123456789"});
  ASSERT_NE(gateway, nullptr);
  EXPECT_TRUE(gateway->SawLogLine("jwt_hs256_secret=<hidden>"));
  EXPECT_FALSE(gateway->SawLogLine("do-not-print-this-secret"));
  EXPECT_FALSE(gateway->SawLogLine("AUTH IS OFF"));
}

// One credential (a user's token, wherever it connects from) holds at most its share of the
// connections: WebSocket, SSE and gRPC Subscribe alike; other users are not affected.
TEST_F(AuthTest, ACredentialHoldsAtMostItsShareOfConnections) {
  StartGateway({"--jwt_hs256_secret_file=" + secret_file_, "--publisher_keys_file=" + keys_file_,
                "--max_connections_per_credential=2"});
  std::string eve = Token({.sub = "eve"});
  std::shared_ptr<WsClient> ws = Ws("/ws?topic=chat.lobby&token=" + eve);
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=chat.lobby&token=" + eve);
  ASSERT_TRUE(ws && sse);
  WsHandshakeResult third = TryWs("/ws?topic=chat.lobby&token=" + eve);
  EXPECT_EQ(third.http_status, 429);
  EXPECT_NE(third.response_body.find("credential"), std::string::npos) << third.response_body;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  context.AddMetadata("authorization", "Bearer " + eve);
  herald::v1::SubscribeRequest request;
  request.add_topics("chat.lobby");
  auto reader = subscriber_->Subscribe(&context, request);
  herald::v1::Event event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Another user from the same address is not affected, and eve's connections keep working.
  EXPECT_TRUE(Ws("/ws?topic=chat.lobby&token=" + Token({.sub = "bob"})));
  ASSERT_TRUE(PublishWith(Token({}), "chat.lobby").ok());
  EXPECT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_TRUE(sse->WaitForEvents(2, kWait));  // After herald.connected.
}

// History reads cost what they return: each credential reads at its own rate, over HTTP and
// gRPC alike, and others read on.
TEST_F(AuthTest, HistoryReadsAreRateLimitedPerCredential) {
  StartGateway({"--jwt_hs256_secret_file=" + secret_file_, "--publisher_keys_file=" + keys_file_,
                "--history_rate=1"});
  std::string eve = Token({.sub = "eve"});
  for (int i = 0; i < 2; ++i) {  // A burst of twice the rate.
    EXPECT_EQ(Fetch(http_port(), "GET", "/v1/history?topic=chat.lobby&token=" + eve).status, 200);
  }
  HttpResponse refused = Fetch(http_port(), "GET", "/v1/history?topic=chat.lobby&token=" + eve);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.Header("Retry-After"), "1");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  context.AddMetadata("authorization", "Bearer " + eve);
  herald::v1::HistoryRequest request;
  request.set_topic("chat.lobby");
  herald::v1::HistoryResponse response;
  EXPECT_EQ(subscriber_->History(&context, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/history?topic=chat.lobby&token=" + Token({})).status,
            200);
}

// Every attack of one tenant at once, against the production flag set (keys required, tokens
// that must expire), while another tenant works beside it: the attacker gets its own refusals,
// and the bystander loses nothing (each event once and in order, its retry deduplicated, its
// history recoverable).
TEST_F(AuthTest, AnAttackingTenantGetsItsOwnRefusalsAndABystanderLosesNothing) {
  constexpr const char* kEveKey = "eve-attacker-key-0123456789";
  dir_.Write("keys", absl::StrCat(kOrdersKey, " orders.> subscribe:orders.>\n", kEveKey,
                                  " eve.> subscribe:eve.>\n"));
  StartGateway({"--jwt_hs256_secret_file=" + secret_file_, "--publisher_keys_file=" + keys_file_,
                "--auth=required", "--jwt_require_exp", "--jwt_max_lifetime=24h",
                "--max_topics=64", "--max_topics_per_credential=8",
                "--max_idempotency_keys_per_publisher=50", "--max_topic_history_bytes=300000",
                "--max_history_answer_bytes=2000000", "--max_message_bytes=100000"});
  // The bystander: bob follows orders.eu, which bob's backend publishes to.
  std::string bob = Token({.sub = "bob", .subscribe = {"orders.>"}, .publish = {}});
  std::shared_ptr<WsClient> bystander = Ws("/ws?topic=orders.eu&token=" + bob);
  ASSERT_TRUE(bystander);
  std::string epoch = bystander->Connected()->subscriptions(0).epoch();
  std::vector<std::string> sent;
  auto bob_publishes = [&] {
    sent.push_back(absl::StrCat("b", sent.size() + 1));
    ASSERT_TRUE(PublishWith(kOrdersKey, Request("orders.eu", sent.back())).ok());
  };
  bob_publishes();

  // 1. Topics: eve's subscribe-only token subscribes to one new topic after another.
  std::string eve = Token({.sub = "eve", .subscribe = {"eve.>"}, .publish = {}});
  std::shared_ptr<WsClient> eve_ws = Ws("/ws?token=" + eve);
  ASSERT_TRUE(eve_ws);
  int refused_topics = 0;
  for (uint32_t id = 1; id <= 20; ++id) {
    std::optional<herald::v1::Reply> reply =
        SubscribeWs(*eve_ws, id, absl::StrCat("eve.t", id), std::nullopt);
    ASSERT_TRUE(reply.has_value());
    if (reply->has_error()) {
      EXPECT_EQ(reply->error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      ++refused_topics;
    }
  }
  EXPECT_EQ(refused_topics, 12);  // Past its share of 8.
  bob_publishes();
  EXPECT_TRUE(PublishWith(kOrdersKey, Request("orders.new", "x")).ok());  // Backends still create.
  EXPECT_TRUE(Ws("/ws?topic=orders.fresh&token=" + bob));  // And bob still subscribes.

  // 2. Idempotency keys: eve's key sends a new key with every event.
  int refused_keys = 0;
  for (int i = 0; i < 80; ++i) {
    herald::v1::PublishRequest request = Request("eve.keys", "k");
    request.set_idempotency_key(absl::StrCat("eve-", i));
    grpc::Status status = PublishWith(kEveKey, request);
    if (!status.ok()) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      ++refused_keys;
    }
  }
  EXPECT_EQ(refused_keys, 30);
  // Bob's backend retries a charge: one event, one offset.
  herald::v1::PublishRequest charge = Request("orders.eu", "charge");
  charge.set_idempotency_key("charge-1");
  herald::v1::PublishResponse first, retry;
  ASSERT_TRUE(PublishWith(kOrdersKey, charge, &first).ok());
  ASSERT_TRUE(PublishWith(kOrdersKey, charge, &retry).ok());
  EXPECT_EQ(retry.offset(), first.offset());
  sent.push_back("charge");

  // 3. History: eve's key floods one topic with large events.
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(PublishWith(kEveKey, Request("eve.big", std::string(90000, '\xff'))).ok());
  }
  bob_publishes();

  // 4. History nobody reads: eve asks for it over 30 sockets and never reads an answer (what
  // that may pin is bounded by the answer budget: LimitsTest.HistoryAnswersShareABudget).
  std::vector<int> unread;
  for (int i = 0; i < 30; ++i) {
    unread.push_back(SendAndNeverRead(
        http_port(), absl::StrCat("GET /v1/history?topic=eve.big&limit=1000&token=", eve,
                                  " HTTP/1.1\r\nHost: x\r\n\r\n")));
    ASSERT_GE(unread.back(), 0);
  }
  // 5. And a request smuggled behind a body that has no end.
  std::string smuggled = RawExchange(
      http_port(), "POST /v1/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n"
                   "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(smuggled.rfind("HTTP/1.1 400", 0), 0u) << smuggled.substr(0, 60);
  EXPECT_EQ(smuggled.find("ok\n"), std::string::npos);

  // The bystander lost nothing: each event once, in order.
  bob_publishes();
  ASSERT_TRUE(bystander->WaitForEvents(sent.size(), kWait));
  std::vector<herald::v1::Event> events = bystander->Events();
  ASSERT_EQ(events.size(), sent.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].data(), sent[i]);
    EXPECT_EQ(events[i].offset(), i + 1);
  }
  EXPECT_FALSE(bystander->Ended());
  // Its history is intact: a client that saw only the first event recovers the rest.
  std::shared_ptr<WsClient> back = Ws("/ws?token=" + bob);
  ASSERT_TRUE(back);
  std::optional<herald::v1::Reply> reply =
      SubscribeWs(*back, 1, "orders.eu", TopicPositionForTest{epoch, 1});
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->subscribed().recovered());
  EXPECT_TRUE(back->WaitForEvents(sent.size() - 1, kWait));
  for (int fd : unread) close(fd);
}

// Readers that ask for large history answers and never read them pin at most their
// credential's share of the answer budget: the gateway's memory stays bounded (its RSS grows by
// about that share, not by every answer), and another reader still gets its answers.
TEST_F(AuthTest, HistoryReadersThatNeverReadPinAtMostTheirShare) {
  StartGateway({"--jwt_hs256_secret_file=" + secret_file_, "--publisher_keys_file=" + keys_file_,
                "--max_history_answer_bytes=67108864"});  // 16 MiB per reader.
  // About 8 MiB of JSON: each answer is cut to its newest 4 MiB.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(PublishWith(kOrdersKey, Request("orders.big", std::string(60000, '\xff'))).ok());
  }
  const size_t before = gateway_->RssBytes();
  ASSERT_GT(before, 0u);
  std::string eve = Token({.sub = "eve", .subscribe = {"orders.>"}, .publish = {}});
  std::vector<int> unread;
  for (int i = 0; i < 60; ++i) {  // Within the read rate's burst.
    unread.push_back(SendAndNeverRead(
        http_port(), absl::StrCat("GET /v1/history?topic=orders.big&limit=1000&token=", eve,
                                  " HTTP/1.1\r\nHost: x\r\n\r\n")));
    ASSERT_GE(unread.back(), 0);
  }
  std::string bob = Token({.sub = "bob", .subscribe = {"orders.>"}, .publish = {}});
  HttpResponse answer =
      Fetch(http_port(), "GET", "/v1/history?topic=orders.big&limit=1000&token=" + bob);
  EXPECT_EQ(answer.status, 200) << answer.body.substr(0, 200);
  EXPECT_GT(answer.body.size(), 3u << 20);
  for (int fd : unread) {  // Every request has been answered (200 or 429) before RSS is read.
    pollfd answered{.fd = fd, .events = POLLIN, .revents = 0};
    EXPECT_EQ(poll(&answered, 1, static_cast<int>(kWait.count())), 1);
  }
  // 60 answers of 4 MiB would be 240 MiB; eve's share is 16 MiB, the rest is slack for the
  // allocator.
  const size_t grown = gateway_->RssBytes() - std::min(before, gateway_->RssBytes());
  EXPECT_LT(grown, size_t{48} << 20) << "RSS grew by " << (grown >> 20) << " MiB";
  for (int fd : unread) close(fd);
}

TEST(AllowedOrigins, APatternWithoutASchemeStopsTheStart) {
  GatewayOptions options;
  options.args = {"--allowed_origins=*.example.com"};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->WaitForExit(kWait), std::optional<int>(2));  // A flag error.
  EXPECT_TRUE(gateway->WaitForLogLine("names no scheme", kWait));
}

}  // namespace
}  // namespace herald::testing
