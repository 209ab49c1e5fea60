// Limits with clear answers: stalled writers, oversized stream items, large History answers.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "herald/v1/admin.grpc.pb.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"
#include "support/temp_dir.h"

namespace herald::testing {
namespace {

class LimitsTest : public GatewayTest {
 protected:
  // Waits until `read()` returns `expected`.
  bool WaitForValue(const std::function<double()>& read, double expected) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (read() == expected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Admin.Connections' remote_address of every connection (the gateway has `admin_key`).
  std::multiset<std::string> RemoteAddresses(const std::string& admin_key) {
    auto admin = herald::v1::Admin::NewStub(channel_);
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + admin_key);
    herald::v1::ConnectionsResponse connections;
    EXPECT_TRUE(admin->Connections(&context, {}, &connections).ok());
    std::multiset<std::string> addresses;
    for (const herald::v1::ClientInfo& client : connections.clients()) {
      addresses.insert(client.remote_address());
    }
    return addresses;
  }

  // The value of a Prometheus sample line starting with `name` (e.g. a name with labels).
  double Metric(const std::string& name) {
    std::string text = Fetch(http_port(), "GET", "/metrics").body;
    size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + name.size() + 2));
  }
};

TEST_F(LimitsTest, AnSseReaderThatStopsReadingOnAQuietTopicIsCut) {
  StartGateway({"--sse_ping_interval=200ms", "--write_timeout=600ms",
                "--max_queue_bytes=33554432", "--max_message_bytes=200000"});
  std::shared_ptr<SseClient> healthy = ConnectSse("/sse?topic=quiet");
  std::shared_ptr<SseClient> stalled = ConnectStalledSse("/sse?topic=quiet");
  ASSERT_TRUE(healthy && stalled);
  ASSERT_TRUE(WaitForValue([&] { return Metric("herald_connections{transport=\"sse\"}"); }, 2));
  // Far less than the 32 MiB queue, far more than loopback socket buffers hold (they grow to
  // a few MiB): a write stays pending.
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(PublishForTest("quiet", std::string(150000, 'q')).ok());
  EXPECT_TRUE(WaitForValue([&] { return Metric("herald_connections{transport=\"sse\"}"); }, 1));
  EXPECT_GE(Metric("herald_server_disconnects_total{code=\"4408\"}"), 1);
  // Its own close says why, in the metrics and in its disconnect line.
  EXPECT_GE(Metric("herald_disconnects_total{transport=\"sse\",code=\"4408\"}"), 1);
  EXPECT_TRUE(gateway_->WaitForLogLine("transport=sse", kWait));
  EXPECT_TRUE(gateway_->WaitForLogLine("code=4408 reason=\"slow consumer\"", kWait));
  EXPECT_TRUE(healthy->WaitFor([&] { return DataEvents(*healthy).size() == 40; }, kWait));
  EXPECT_FALSE(healthy->Ended());
}

TEST_F(LimitsTest, AnOversizedPublishStreamItemGetsItsErrorAndTheStreamGoesOn) {
  StartGateway({"--max_message_bytes=1024"});
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  auto stream = publisher_->PublishStream(&context);
  for (size_t size : {10, 100000, 10}) {
    ASSERT_TRUE(stream->Write(Request("big.items", std::string(size, 'b'))));
    herald::v1::PublishResponse response;
    ASSERT_TRUE(stream->Read(&response));
    if (size > 1024) {
      EXPECT_EQ(response.error().code(), grpc::StatusCode::INVALID_ARGUMENT);
    } else {
      EXPECT_FALSE(response.has_error()) << response.error().message();
    }
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(LimitsTest, HistoryAnswersFitAGrpcClientsDefaultLimit) {
  StartGateway({"--max_message_bytes=600000", "--history_size=20"});
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(PublishForTest("big.history", std::string(500000, 'h')).ok());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::HistoryRequest request;
  request.set_topic("big.history");
  request.set_limit(20);
  herald::v1::HistoryResponse response;
  grpc::Status status = subscriber_->History(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.offset(), 12u);
  // The newest events that fit in 4 MiB, oldest first.
  ASSERT_EQ(response.events_size(), 8);
  EXPECT_EQ(response.events(0).offset(), 5u);
  EXPECT_EQ(response.events(7).offset(), 12u);
}

// /v1/history counts what it sends: JSON, where base64 makes each binary event a third larger
// than its WebSocket bytes.
TEST_F(LimitsTest, HistoryAnswersOverHttpFitTheirLimitAsTheJsonTheyAre) {
  StartGateway({"--max_message_bytes=600000", "--history_size=20"});
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(PublishForTest("big.json", std::string(500000, '\xff')).ok());  // Not UTF-8.
  }
  HttpResponse history = Fetch(http_port(), "GET", "/v1/history?topic=big.json&limit=20");
  ASSERT_EQ(history.status, 200) << history.error;
  EXPECT_LE(history.body.size(), size_t{4} << 20);
  boost::json::value answer = boost::json::parse(history.body);
  const boost::json::array& events = answer.at("events").as_array();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events.front().at("offset").to_number<uint64_t>(), 7u);
  EXPECT_EQ(events.back().at("offset").to_number<uint64_t>(), 12u);
}

// History answers being written at once share a budget: past it a read is refused, instead of
// holding answers for readers that do not read; one larger than the whole budget is told to ask
// for fewer events.
TEST_F(LimitsTest, HistoryAnswersShareABudget) {
  StartGateway({"--max_history_answer_bytes=3000"});
  ASSERT_TRUE(PublishForTest("small", "s").ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(PublishForTest("wide", std::string(200, 'w')).ok());
  HttpResponse refused = Fetch(http_port(), "GET", "/v1/history?topic=wide&limit=20");
  EXPECT_EQ(refused.status, 400) << refused.body;  // Not worth retrying as it is.
  EXPECT_FALSE(refused.Header("Retry-After").has_value());
  EXPECT_NE(refused.body.find("fewer events"), std::string::npos) << refused.body;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::HistoryRequest request;
  request.set_topic("wide");
  request.set_limit(20);
  herald::v1::HistoryResponse response;
  EXPECT_EQ(subscriber_->History(&context, request, &response).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
  // Answers within it go, one after the other: each gave its place back once written.
  for (int i = 0; i < 3; ++i) {
    HttpResponse small = Fetch(http_port(), "GET", "/v1/history?topic=small");
    EXPECT_EQ(small.status, 200) << small.body;
    grpc::ClientContext again;
    again.set_deadline(std::chrono::system_clock::now() + kWait);
    request.set_topic("small");
    EXPECT_TRUE(subscriber_->History(&again, request, &response).ok());
    EXPECT_EQ(response.events_size(), 1);
  }
}

TEST_F(LimitsTest, ReadingHistoryOfUnknownTopicsLeavesNoTrace) {
  StartGateway();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::HistoryRequest request;
  request.set_topic("never.published");
  herald::v1::HistoryResponse response;
  ASSERT_TRUE(subscriber_->History(&context, request, &response).ok());
  EXPECT_EQ(response.epoch(), "");
  EXPECT_EQ(response.offset(), 0u);
  // A client handed that position recovers the topic's first events.
  ASSERT_TRUE(PublishForTest("never.published", "first").ok());
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("never.published");
  subscribe.mutable_subscribe()->set_recover(true);
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->subscribed().recovered());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_EQ(ws->Events()[0].data(), "first");
}

TEST_F(LimitsTest, ConnectionsAreCappedPerAddressThenInTotalBeforeAnyUpgrade) {
  StartGateway({"--max_connections_per_ip=2"});
  std::shared_ptr<WsClient> first = ConnectWs("/ws?topic=a");
  std::shared_ptr<SseClient> second = ConnectSse("/sse?topic=a");
  ASSERT_TRUE(first && second);
  WsHandshakeResult third = WsClient::TryConnect(loop_, http_port(), "/ws?topic=a");
  EXPECT_EQ(third.http_status, 429);
  HttpResponse sse = Fetch(http_port(), "GET", "/sse?topic=a");
  EXPECT_EQ(sse.status, 429);
  EXPECT_EQ(sse.Header("Retry-After"), "5");
  // A connection that ends gives its place back.
  first->Close();
  ASSERT_TRUE(first->WaitForClose(kWait).has_value());
  ASSERT_TRUE(WaitForValue([&] { return Metric("herald_connections{transport=\"ws\"}"); }, 0));
  EXPECT_TRUE(ConnectWs("/ws?topic=a"));
}

// Behind a trusted proxy each client it names has a cap of its own, and is the address the Admin
// API shows; what a client wrote itself left of the proxy's entry is not believed.
TEST_F(LimitsTest, BehindATrustedProxyEachForwardedClientHasItsOwnCap) {
  TempDir dir;
  constexpr char kAdminKey[] = "limits-admin-key-0123456789abcdef";
  StartGateway({"--max_connections_per_ip=1", "--trusted_proxies=10.0.0.0/8,127.0.0.1",
                "--admin_keys_file=" + dir.Write("admin_keys", kAdminKey)});
  auto via_proxy = [&](const std::string& forwarded_for) {
    WsOptions options;
    options.headers = {{"X-Forwarded-For", forwarded_for}};
    return WsClient::TryConnect(loop_, http_port(), "/ws?topic=a", options);
  };
  WsHandshakeResult ada = via_proxy("203.0.113.1");
  WsHandshakeResult bob = via_proxy("198.51.100.1, 203.0.113.2");
  ASSERT_EQ(ada.http_status, 101) << ada.error;
  ASSERT_EQ(bob.http_status, 101) << bob.error;
  EXPECT_EQ(via_proxy("203.0.113.1").http_status, 429);
  // A proxy appends its own line after any the client sent: the last line counts.
  std::string two_lines = RawExchange(http_port(),
                                      "GET /sse?topic=a HTTP/1.1\r\nHost: h\r\n"
                                      "X-Forwarded-For: 198.51.100.66\r\n"
                                      "X-Forwarded-For: 203.0.113.2\r\n\r\n",
                                      std::chrono::milliseconds(1000));
  EXPECT_NE(two_lines.find(" 429 "), std::string::npos) << two_lines;
  // A malformed header leaves the proxy's own address, which has its own place.
  WsHandshakeResult proxy_itself = via_proxy("not-an-address");
  EXPECT_EQ(proxy_itself.http_status, 101);

  std::multiset<std::string> addresses = RemoteAddresses(kAdminKey);
  EXPECT_EQ(addresses.size(), 3u);
  EXPECT_TRUE(addresses.contains("203.0.113.1") && addresses.contains("203.0.113.2"));
  // The proxy's own connection is shown as it is seen: with its port.
  EXPECT_EQ(std::count_if(addresses.begin(), addresses.end(),
                          [](const std::string& a) { return a.starts_with("127.0.0.1:"); }),
            1);
}

// With --proxy_protocol, the PROXY header (v1 or v2) of a trusted load balancer names the
// client; a connection of the balancer without one, or with a malformed one, is closed unanswered
// and counted.
TEST_F(LimitsTest, AProxyProtocolHeaderFromATrustedBalancerNamesTheClient) {
  TempDir dir;
  constexpr char kAdminKey[] = "limits-admin-key-0123456789abcdef";
  StartGateway({"--trusted_proxies=127.0.0.1", "--proxy_protocol", "--max_connections_per_ip=1",
                "--admin_keys_file=" + dir.Write("admin_keys", kAdminKey)});
  auto v1 = [](const std::string& client) {
    return "PROXY TCP4 " + client + " 127.0.0.1 5000 80\r\n";
  };
  const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string sse = "GET /sse?topic=a HTTP/1.1\r\nHost: h\r\n\r\n";
  // This test reaches the gateway from the balancer's address: its scrapes carry a header too.
  auto metric = [&](const std::string& name) {
    std::string scrape = RawExchange(
        http_port(), v1("192.0.2.1") + "GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    size_t at = scrape.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(scrape.substr(at + name.size() + 2));
  };
  EXPECT_NE(RawExchange(http_port(), v1("203.0.113.9") + healthz).find("200 OK"), std::string::npos);
  std::string v2("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16);
  v2 += std::string("\xC6\x33\x64\x04\x7F\x00\x00\x01\x13\x88\x00\x50", 12);  // 198.51.100.4
  EXPECT_NE(RawExchange(http_port(), v2 + healthz).find("200 OK"), std::string::npos);

  // Streams count under the client's address: 203.0.113.9 holds its one, 203.0.113.10 its own.
  int first = SendAndNeverRead(http_port(), v1("203.0.113.9") + sse);
  ASSERT_GE(first, 0);
  ASSERT_TRUE(WaitForValue([&] { return metric("herald_connections{transport=\"sse\"}"); }, 1));
  EXPECT_NE(RawExchange(http_port(), v1("203.0.113.9") + sse).find(" 429 "), std::string::npos);
  int other = SendAndNeverRead(http_port(), v1("203.0.113.10") + sse);
  ASSERT_GE(other, 0);
  EXPECT_TRUE(WaitForValue([&] { return metric("herald_connections{transport=\"sse\"}"); }, 2));
  EXPECT_EQ(RemoteAddresses(kAdminKey), (std::multiset<std::string>{"203.0.113.9", "203.0.113.10"}));

  // A header that names no client (UNKNOWN): nothing the connection says names one either.
  std::string unnamed = RawExchange(
      http_port(), "PROXY UNKNOWN\r\nGET /sse?topic=a HTTP/1.1\r\nHost: h\r\n"
                   "X-Forwarded-For: 203.0.113.9\r\n\r\n",
      std::chrono::milliseconds(1000));
  EXPECT_NE(unnamed.find(" 200 OK"), std::string::npos) << "203.0.113.9 holds its one: " << unnamed;

  EXPECT_EQ(RawExchange(http_port(), healthz), "");  // The balancer left the header out.
  EXPECT_EQ(RawExchange(http_port(), "PROXY TCP4 nobody 127.0.0.1 1 2\r\n" + healthz), "");
  EXPECT_EQ(metric("herald_proxy_protocol_refusals_total"), 2);
  close(first);
  close(other);
}

// A PROXY header where none is expected (the option off, or from a peer not trusted) closes the
// connection unanswered; plain requests go on.
TEST_F(LimitsTest, AProxyProtocolHeaderWhereNoneIsExpectedClosesTheConnection) {
  StartGateway({"--trusted_proxies=10.0.0.0/8", "--proxy_protocol"});
  const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(RawExchange(http_port(), "PROXY TCP4 203.0.113.9 127.0.0.1 5000 80\r\n" + healthz), "");
  std::string v2("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16);
  v2 += std::string(12, '\x01');
  EXPECT_EQ(RawExchange(http_port(), v2 + healthz), "");
  EXPECT_EQ(Metric("herald_proxy_protocol_refusals_total"), 2);
  EXPECT_NE(RawExchange(http_port(), healthz).find("200 OK"), std::string::npos);
}

TEST(ProxyProtocolStart, NeedsTrustedProxies) {
  CommandResult start = RunHerald("--proxy_protocol");
  EXPECT_NE(start.exit_code, 0);
  EXPECT_NE(start.output.find("--proxy_protocol needs --trusted_proxies"), std::string::npos)
      << start.output;
}

// With --forwarded_header=forwarded, the client is read from Forwarded only: X-Forwarded-For,
// which such a proxy passes on as the client wrote it, is not believed.
TEST_F(LimitsTest, AProxyThatWritesForwardedIsReadThereOnly) {
  StartGateway({"--max_connections_per_ip=1", "--trusted_proxies=127.0.0.1",
                "--forwarded_header=forwarded"});
  auto connect = [&](std::string name, std::string value) {
    WsOptions options;
    options.headers = {{std::move(name), std::move(value)}};
    return WsClient::TryConnect(loop_, http_port(), "/ws?topic=a", options).http_status;
  };
  EXPECT_EQ(connect("Forwarded", "for=203.0.113.1;proto=http"), 101);
  EXPECT_EQ(connect("Forwarded", "for=\"203.0.113.1:4711\""), 429);
  EXPECT_EQ(connect("X-Forwarded-For", "203.0.113.1"), 101);  // Counted as the proxy itself.
}

// A peer that is not a trusted proxy cannot pass the cap by naming other clients.
TEST_F(LimitsTest, ForwardingHeadersFromAPeerNotTrustedAreIgnored) {
  StartGateway({"--max_connections_per_ip=1", "--trusted_proxies=10.0.0.0/8"});
  WsOptions first;
  first.headers = {{"X-Forwarded-For", "203.0.113.1"}};
  WsHandshakeResult admitted = WsClient::TryConnect(loop_, http_port(), "/ws?topic=a", first);
  ASSERT_EQ(admitted.http_status, 101);
  WsOptions second;
  second.headers = {{"X-Forwarded-For", "203.0.113.2"}, {"Forwarded", "for=203.0.113.3"}};
  EXPECT_EQ(WsClient::TryConnect(loop_, http_port(), "/ws?topic=a", second).http_status, 429);
}

// gRPC Subscribe streams share one HTTP/2 connection, yet each is a connection to the caps: a
// client cannot pass them by opening streams instead of sockets.
TEST_F(LimitsTest, GrpcSubscribeStreamsCountUnderTheConnectionCaps) {
  StartGateway({"--max_connections_per_ip=2"});
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=a");
  ASSERT_TRUE(ws);
  herald::v1::SubscribeRequest request;
  request.add_topics("a");
  grpc::ClientContext first;
  std::unique_ptr<grpc::ClientReader<herald::v1::Event>> stream =
      subscriber_->Subscribe(&first, request);
  stream->WaitForInitialMetadata();
  ASSERT_TRUE(WaitForValue([&] { return Metric("herald_connections{transport=\"grpc\"}"); }, 1));

  grpc::ClientContext second;
  second.set_deadline(std::chrono::system_clock::now() + kWait);
  std::unique_ptr<grpc::ClientReader<herald::v1::Event>> refused =
      subscriber_->Subscribe(&second, request);
  herald::v1::Event event;
  EXPECT_FALSE(refused->Read(&event));
  grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(WsClient::TryConnect(loop_, http_port(), "/ws?topic=a").http_status, 429);

  // The stream that ends gives its place back; the one admitted kept getting events.
  ASSERT_TRUE(PublishForTest("a", "x").ok());
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.data(), "x");
  first.TryCancel();
  stream->Finish();
  ASSERT_TRUE(WaitForValue([&] { return Metric("herald_connections{transport=\"grpc\"}"); }, 0));
  EXPECT_TRUE(ConnectWs("/ws?topic=a"));
  EXPECT_TRUE(ws->WaitForEvents(1, kWait));
}

// Whether the gateway closed `fd` without answering (within the test's wait).
bool ClosedWithoutAnAnswer(int fd) {
  pollfd readable{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&readable, 1, static_cast<int>(kWait.count())) != 1) return false;
  char byte;
  return recv(fd, &byte, 1, 0) <= 0;
}

// One address holds at most --max_connections_per_ip connections not admitted yet (slow
// requests, plain HTTP exchanges) too: past it its next one is closed at once, and another
// address is served.
TEST_F(LimitsTest, OneAddressHoldsAtMostItsShareOfConnectionsNotYetAdmitted) {
  StartGateway({"--max_connections_per_ip=3"});
  std::vector<int> silent;
  for (int i = 0; i < 3; ++i) {
    silent.push_back(SendAndNeverRead(http_port(), "GET /healthz HTTP/1.1\r\n", "127.0.0.2"));
    ASSERT_GE(silent.back(), 0);
  }
  int refused = SendAndNeverRead(http_port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                 "127.0.0.2");
  ASSERT_GE(refused, 0);
  EXPECT_TRUE(ClosedWithoutAnAnswer(refused));
  close(refused);
  EXPECT_EQ(Fetch(http_port(), "GET", "/healthz").status, 200);  // From 127.0.0.1.
  for (int fd : silent) close(fd);
}

// Connections not admitted yet (a TLS handshake, a request being read) are capped: past the cap
// a new connection is closed at once, and admitted clients do not notice.
TEST_F(LimitsTest, ConnectionsNotYetAdmittedAreCapped) {
  StartGateway({"--max_pending_connections=3"});
  std::shared_ptr<WsClient> admitted = ConnectWs("/ws?topic=a");  // Holds no pending place.
  ASSERT_TRUE(admitted);
  std::vector<int> silent;
  for (int i = 0; i < 3; ++i) {
    silent.push_back(SendAndNeverRead(http_port(), ""));
    ASSERT_GE(silent.back(), 0);
  }
  std::string refused = RawExchange(http_port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(refused, "");  // Closed without an answer.
  ASSERT_TRUE(PublishForTest("a", "still delivered").ok());
  EXPECT_TRUE(admitted->WaitForEvents(1, kWait));

  for (int fd : silent) close(fd);
  // Their places come back once the gateway sees them go.
  auto deadline = std::chrono::steady_clock::now() + kWait;
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = Fetch(http_port(), "GET", "/healthz").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
  EXPECT_FALSE(admitted->Ended());
}

TEST_F(LimitsTest, TheTotalConnectionCapAnswers503) {
  StartGateway({"--max_connections=1", "--max_connections_per_ip=0"});
  std::shared_ptr<WsClient> only = ConnectWs("/ws?topic=a");
  ASSERT_TRUE(only);
  EXPECT_EQ(WsClient::TryConnect(loop_, http_port(), "/ws?topic=a").http_status, 503);
  EXPECT_EQ(Fetch(http_port(), "GET", "/sse?topic=a").status, 503);
  // Publishing and health checks are not connections of that kind.
  EXPECT_EQ(Fetch(http_port(), "GET", "/healthz").status, 200);
  ASSERT_TRUE(PublishForTest("a", "still delivered").ok());
  EXPECT_TRUE(only->WaitForEvents(1, kWait));
}

TEST_F(LimitsTest, NewTopicsPastTheCapAreRefused) {
  StartGateway({"--max_topics=3"});
  for (const char* topic : {"t.1", "t.2", "t.3"}) ASSERT_TRUE(PublishForTest(topic, "x").ok());
  EXPECT_EQ(PublishForTest("t.4", "x").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(PublishForTest("t.1", "existing topics go on").ok());
  HttpResponse http = Fetch(http_port(), "POST", "/v1/publish", R"({"topic":"t.5","data":"eA=="})");
  EXPECT_EQ(http.status, 429);
  EXPECT_EQ(http.Header("Retry-After"), "1");
  // A refused connect-time topic closes the connection with its reason.
  std::shared_ptr<WsClient> refused = ConnectWs("/ws?topic=t.1&topic=t.7");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->WaitForClose(kWait), std::optional<uint16_t>(4429));
  std::shared_ptr<SseClient> refused_sse = ConnectSse("/sse?topic=t.8");
  ASSERT_TRUE(refused_sse);
  EXPECT_TRUE(refused_sse->WaitForEnd(kWait));
  EXPECT_EQ(refused_sse->Events().back().type, "herald.disconnect");
  EXPECT_NE(refused_sse->Events().back().data.find("4429"), std::string::npos);

  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("t.6");
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(ws->Ended());
}

TEST_F(LimitsTest, EachCredentialHasAPublishRateOnEveryWayIn) {
  char path[] = "/tmp/herald-keys-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string keys = "fast-backend-key-0123456789 rated.>\nother-backend-key-0123456789 rated.>\n";
  ASSERT_EQ(write(fd, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  close(fd);
  StartGateway({std::string("--publisher_keys_file=") + path, "--publish_rate=5"});
  unlink(path);
  auto publish = [&](const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    context.AddMetadata("authorization", "Bearer " + key);
    herald::v1::PublishResponse response;
    return publisher_->Publish(&context, Request("rated.a", "x"), &response);
  };
  // A burst of twice the rate, then refusals.
  int accepted = 0;
  grpc::Status refused;
  for (int i = 0; i < 20 && refused.ok(); ++i) {
    grpc::Status status = publish("fast-backend-key-0123456789");
    if (status.ok()) {
      ++accepted;
    } else {
      refused = status;
    }
  }
  EXPECT_GE(accepted, 10);
  EXPECT_LE(accepted, 12);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  HttpResponse http =
      Fetch(http_port(), "POST", "/v1/publish", R"({"topic":"rated.a","data":"eA=="})",
            {{"Authorization", "Bearer fast-backend-key-0123456789"}});
  EXPECT_EQ(http.status, 429);
  EXPECT_EQ(http.Header("Retry-After"), "1");
  // Another credential has its own budget.
  EXPECT_TRUE(publish("other-backend-key-0123456789").ok());
}

// The bytes an event takes in a WebSocket frame of its own.
size_t FrameSize(const herald::v1::Event& event) {
  herald::v1::ServerMessage message;
  *message.add_events() = event;
  return message.ByteSizeLong();
}

TEST_F(LimitsTest, AReplayAnnouncedAsRecoveredIsNeverCutAfterwards) {
  constexpr size_t kRoom = 4096;  // --max_queue_bytes, with no extra replay room.
  StartGateway({"--max_queue_bytes=4096", "--max_replay_bytes=0"});
  // Learn the frame size of an event, then size four events to fill the room exactly.
  std::shared_ptr<WsClient> probe = ConnectWs("/ws?topic=probe");
  ASSERT_TRUE(PublishForTest("probe", std::string(500, 'p')).ok());
  ASSERT_TRUE(probe->WaitForEvents(1, kWait));
  size_t overhead = FrameSize(probe->Events()[0]) - 500;
  std::string payload(kRoom / 4 - overhead, 'r');
  std::string epoch;
  for (int i = 0; i < 4; ++i) {
    herald::v1::PublishResponse response;
    ASSERT_TRUE(Publish(Request("exact", payload), &response).ok());
    epoch = response.epoch();
  }

  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("exact");
  subscribe.mutable_subscribe()->set_recover(true);
  subscribe.mutable_subscribe()->set_epoch(epoch);
  subscribe.mutable_subscribe()->set_offset(0);
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  if (reply->subscribed().recovered()) {
    EXPECT_TRUE(ws->WaitForEvents(4, kWait));
  }
  // Whatever was announced, the connection lives on.
  ASSERT_TRUE(PublishForTest("exact", "live").ok());
  EXPECT_TRUE(ws->WaitFor([&] {
    std::vector<herald::v1::Event> events = ws->Events();
    return !events.empty() && events.back().data() == "live";
  }, kWait));
  EXPECT_FALSE(ws->Ended()) << "closed with " << ws->CloseCode().value_or(0);
}

}  // namespace
}  // namespace herald::testing
