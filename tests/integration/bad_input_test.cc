// Bad input gets its documented answer, and a well-behaved client on the same gateway is
// undisturbed.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"

#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

class BadInputTest : public GatewayTest {
 protected:
  void SetUp() override {
    StartGateway({"--max_message_bytes=1024"});
    bystander_ = ConnectWs("/ws?topic=calm");
    bystander_sse_ = ConnectSse("/sse?topic=calm");
    ASSERT_TRUE(bystander_ && bystander_sse_);
  }

  // After the bad input, the bystanders still receive an event published now, in order.
  void TearDown() override {
    if (!bystander_) return;
    ++published_;
    ASSERT_TRUE(Publish(Request("calm", "still fine")).ok());
    EXPECT_TRUE(bystander_->WaitForEvents(published_, kWait));
    EXPECT_TRUE(bystander_sse_->WaitFor(
        [&] { return DataEvents(*bystander_sse_).size() == published_; }, kWait));
    EXPECT_FALSE(bystander_->Ended());
    EXPECT_FALSE(bystander_sse_->Ended());
    EXPECT_TRUE(gateway_->Running());
  }

  std::shared_ptr<WsClient> bystander_;
  std::shared_ptr<SseClient> bystander_sse_;
  size_t published_ = 0;
};

TEST_F(BadInputTest, TextFrameClosesWith1003) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ws->SendText("{\"subscribe\": \"x\"}");
  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(1003));
  ASSERT_TRUE(ws->Disconnect().has_value());
  EXPECT_EQ(ws->Disconnect()->code(), 1003u);
}

TEST_F(BadInputTest, BinaryFrameThatIsNotAClientMessageClosesWith4400) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ws->SendBinary(std::string("\xff\xff\xff\xff\x0f garbage", 13));
  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(4400));
}

TEST_F(BadInputTest, ClientMessageWithoutCommandClosesWith4400) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  herald::v1::ClientMessage empty;
  empty.set_id(1);
  ws->Send(empty);
  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(4400));
}

TEST_F(BadInputTest, FrameOverTheMessageLimitClosesWith1009) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  herald::v1::ClientMessage publish;
  publish.set_id(1);
  *publish.mutable_publish() = Request("calm", std::string(4096, 'x'));
  ws->Send(publish);
  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(1009)) << ws->Error();
}

TEST_F(BadInputTest, FailedCommandsGetErrorRepliesAndTheConnectionStays) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("bad..topic");
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::INVALID_ARGUMENT);

  herald::v1::ClientMessage reserved;
  reserved.set_id(2);
  *reserved.mutable_publish() = Request("calm", "x");
  reserved.mutable_publish()->set_type("herald.connected");
  ws->Send(reserved);
  reply = ws->WaitForReply(2, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::INVALID_ARGUMENT);

  herald::v1::ClientMessage bad_json;
  bad_json.set_id(3);
  *bad_json.mutable_publish() = Request("calm", "{not json", "application/json");
  ws->Send(bad_json);
  reply = ws->WaitForReply(3, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::INVALID_ARGUMENT);

  herald::v1::ClientMessage ping;
  ping.set_id(4);
  ping.mutable_ping();
  ws->Send(ping);
  ASSERT_TRUE(ws->WaitForReply(4, kWait).has_value());
  EXPECT_FALSE(ws->Ended());
}

TEST_F(BadInputTest, InvalidTopicInTheQueryIsRefusedBeforeTheUpgrade) {
  WsHandshakeResult result = WsClient::TryConnect(loop_, http_port(), "/ws?topic=no%20spaces");
  EXPECT_EQ(result.client, nullptr);
  EXPECT_EQ(result.http_status, 400);
  std::shared_ptr<SseClient> sse = SseClient::Connect(loop_, http_port(), "/sse?topic=a..b");
  ASSERT_NE(sse, nullptr);
  EXPECT_EQ(sse->StatusCode(), 400);
  std::shared_ptr<SseClient> no_topic = SseClient::Connect(loop_, http_port(), "/sse");
  ASSERT_NE(no_topic, nullptr);
  EXPECT_EQ(no_topic->StatusCode(), 400);
}

TEST_F(BadInputTest, OversizedHeadersGet431) {
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                        std::string(9 * 1024, 'a') + "\r\n\r\n";
  std::string answer = RawExchange(http_port(), request);
  EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer.substr(0, 80);
}

TEST_F(BadInputTest, MalformedHttpGets400) {
  std::string answer = RawExchange(http_port(), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 80);
}

// RFC 9112 section 6.1: a body whose end cannot be known is refused, and the connection closes
// (what follows could otherwise run as a second request, smuggled past a proxy).
TEST_F(BadInputTest, ATransferEncodingNotEndingInChunkedGets400AndTheConnectionCloses) {
  std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::string coding : {"foo", "chunked, foo", "CHUNKED , identity"}) {
    std::string answer = RawExchange(
        http_port(), "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: " + coding + "\r\n\r\n" + smuggled);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << coding << ": " << answer.substr(0, 80);
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << coding;
    EXPECT_EQ(answer.find("ok\n"), std::string::npos) << coding << ": the second request ran";
  }
  // A coding before chunked is one Herald does not decode.
  std::string answer = RawExchange(
      http_port(), "POST /v1/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
                   "\r\n0\r\n\r\n" + smuggled);
  EXPECT_EQ(answer.rfind("HTTP/1.1 501", 0), 0u) << answer.substr(0, 80);
  EXPECT_EQ(answer.find("ok\n"), std::string::npos);
  // chunked alone is fine.
  answer = RawExchange(http_port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                    "chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 80);
}

TEST_F(BadInputTest, HttpPublishRefusesBadJsonBadEventsAndOversizedBodies) {
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", "{\"topic\": ").status, 400);
  // An unknown field is ignored (proto3 JSON), but what is left is an event with neither type
  // nor data.
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", R"({"topic":"calm","nope":1})").status,
            400);
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", R"({"topic":"bad topic","data":"eA=="})")
                .status,
            400);
  // {"a": in base64, under a JSON content type.
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish",
                  R"({"topic":"calm","data":"eyJhIjo=","content_type":"application/json"})")
                .status,
            400);
  std::string big_data(2000, 'A');  // 1500 bytes once decoded: over the 1024-byte limit.
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish",
                  R"({"topic":"calm","data":")" + big_data + R"("})")
                .status,
            413);
  std::string huge_body(64 * 1024, ' ');
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/publish", huge_body).status, 413);
}

// A JSON publish that does not parse says what is wrong in the words of its fields.
TEST_F(BadInputTest, HttpPublishSaysWhatIsWrongWithItsJson) {
  auto message = [&](const std::string& body) {
    HttpResponse answer = Fetch(http_port(), "POST", "/v1/publish", body);
    EXPECT_EQ(answer.status, 400) << body;
    return answer.body;
  };
  EXPECT_NE(message(R"({"topic":"calm","data":{"price":3}})").find("send a base64 string"),
            std::string::npos);
  EXPECT_NE(message(R"({"topic":"calm","data":"not base64!"})").find("is not base64"),
            std::string::npos);
  EXPECT_NE(message("{\"topic\": ").find("the body is not JSON"), std::string::npos);
  EXPECT_NE(message(R"(["calm"])").find("must be a JSON object"), std::string::npos);
}

// A newer client may send fields this gateway does not know: they are ignored, as proto3 JSON
// parsers do, and the event is published.
TEST_F(BadInputTest, HttpPublishIgnoresUnknownFields) {
  HttpResponse answer = Fetch(
      http_port(), "POST", "/v1/publish",
      R"({"topic":"calm","type":"t","data":"eA==","added_later":{"x":[1,2]},"flag":true})");
  ASSERT_EQ(answer.status, 200) << answer.body;
  ++published_;  // The bystanders follow `calm`.
  EXPECT_NE(answer.body.find(R"("topic":"calm")"), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find(R"("offset":")"), std::string::npos) << answer.body;
}

TEST_F(BadInputTest, GrpcRefusesEmptyOversizedReservedAndBadTopicEvents) {
  EXPECT_EQ(Publish(Request("calm", "")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Publish(Request("calm", std::string(2048, 'x'))).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  herald::v1::PublishRequest reserved = Request("calm", "x");
  reserved.set_type("herald.disconnect");
  EXPECT_EQ(Publish(reserved).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Publish(Request("", "x")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Publish(Request("a/b", "x")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BadInputTest, AGrpcSubscribeOrHistoryWhoseRequestDoesNotParseIsRefused) {
  // A client sending bytes that are not a request, through a generic stub.
  grpc::GenericStub stub(channel_);
  for (const char* method : {"/herald.v1.Subscriber/Subscribe", "/herald.v1.Subscriber/History"}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    grpc::CompletionQueue queue;
    auto wait = [&queue] {
      void* tag;
      bool ok = false;
      EXPECT_TRUE(queue.Next(&tag, &ok));
      return ok;
    };
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        stub.PrepareCall(&context, method, &queue);
    call->StartCall(nullptr);
    ASSERT_TRUE(wait());
    grpc::Slice truncated_varint("\x0a\xff\xff", 3);
    grpc::ByteBuffer garbage(&truncated_varint, 1);
    call->WriteLast(garbage, grpc::WriteOptions(), nullptr);
    wait();
    grpc::ByteBuffer answer;
    call->Read(&answer, nullptr);
    EXPECT_FALSE(wait()) << method;  // No answer.
    grpc::Status status;
    call->Finish(&status, nullptr);
    ASSERT_TRUE(wait());
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    queue.Shutdown();
    void* tag;
    bool ok;
    while (queue.Next(&tag, &ok)) {
    }
  }
  EXPECT_TRUE(gateway_->Running());
}

TEST_F(BadInputTest, ACommandFloodGetsRateLimitedRepliesThenClose4429) {
  StartGateway({"--ws_command_rate=20"});
  bystander_ = ConnectWs("/ws?topic=calm");
  bystander_sse_ = ConnectSse("/sse?topic=calm");
  ASSERT_TRUE(bystander_ && bystander_sse_);
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ASSERT_TRUE(ws);
  herald::v1::ClientMessage ping;
  ping.mutable_ping();
  for (uint32_t id = 1; id <= 60; ++id) {
    ping.set_id(id);
    ws->Send(ping);
  }
  // The burst (40) is answered; the rest are refused, but the connection stays.
  ASSERT_TRUE(ws->WaitFor([&] { return ws->Replies().size() == 60; }, kWait));
  size_t refused = 0;
  for (const herald::v1::Reply& reply : ws->Replies()) {
    if (reply.error().code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++refused;
  }
  EXPECT_GE(refused, 10u);
  EXPECT_FALSE(ws->Ended());
  // Going on regardless is a flood.
  for (uint32_t id = 61; id <= 200; ++id) {
    ping.set_id(id);
    ws->Send(ping);
  }
  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(4429));
}

TEST_F(BadInputTest, AFloodOfGarbageConnectionsLeavesTheGatewayServing) {
  std::vector<std::shared_ptr<WsClient>> clients;
  for (int i = 0; i < 20; ++i) {
    std::shared_ptr<WsClient> ws = ConnectWs("/ws");
    ASSERT_TRUE(ws);
    ws->SendBinary(std::string(64, static_cast<char>(0x80 + i)));
    clients.push_back(ws);
  }
  for (const std::shared_ptr<WsClient>& ws : clients) {
    EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(4400));
  }
  for (int i = 0; i < 5; ++i) {
    std::string answer = RawExchange(http_port(), "\x16\x03\x01garbage\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 80);
  }
}

// A client frame, masked as RFC 6455 requires (or not, to break it).
std::string ClientFrame(uint8_t first_byte, std::string_view payload, bool masked = true) {
  std::string frame;
  frame.push_back(static_cast<char>(first_byte));
  frame.push_back(static_cast<char>((masked ? 0x80 : 0) | payload.size()));
  const char mask[4] = {0x0f, 0x1e, 0x2d, 0x3c};
  if (masked) frame.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    frame.push_back(masked ? payload[i] ^ mask[i % 4] : payload[i]);
  }
  return frame;
}

std::string Upgrade(absl::string_view target, absl::string_view version = "13") {
  return absl::StrCat("GET ", target,
                      " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ",
                      version, "\r\n\r\n");
}

TEST_F(BadInputTest, PingsArePongedAndAnUnmaskedFrameClosesWith1002) {
  std::string answer = RawExchange(
      http_port(), Upgrade("/ws") + ClientFrame(0x89, "abc") + ClientFrame(0x82, "x", false));
  EXPECT_EQ(answer.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  size_t pong = answer.find("\x8a\x03" "abc");
  size_t close = answer.find("\x88\x1e\x03\xea" "client frames must be masked");
  EXPECT_NE(pong, std::string::npos);
  ASSERT_NE(close, std::string::npos);
  EXPECT_LT(pong, close);
  // The close frame is the last thing sent: the server then closed the connection.
  EXPECT_EQ(close + 2 + 0x1e, answer.size());
}

TEST_F(BadInputTest, AClientsCloseIsAnsweredWithItsCodeAndTheConnectionEnds) {
  auto started = std::chrono::steady_clock::now();
  std::string answer = RawExchange(
      http_port(), Upgrade("/ws?topic=calm") + ClientFrame(0x88, std::string("\x03\xe8", 2)));
  std::string echo("\x88\x02\x03\xe8", 4);
  ASSERT_GE(answer.size(), echo.size());
  EXPECT_EQ(answer.substr(answer.size() - echo.size()), echo);
  // Ended by the server at once, not by the exchange's own time limit.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(BadInputTest, UpgradesWithAWrongVersionOrKeyAreRefused) {
  std::string answer = RawExchange(http_port(), Upgrade("/ws", "8"));
  EXPECT_EQ(answer.rfind("HTTP/1.1 426", 0), 0u) << answer;
  EXPECT_NE(answer.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << answer;
  std::string no_key = Upgrade("/ws");
  no_key.replace(no_key.find("dGhlIHNhbXBsZSBub25jZQ=="), 24, "short");
  answer = RawExchange(http_port(), no_key);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
}

TEST_F(BadInputTest, AMessageFarOverTheLimitStillGetsItsCloseFrame) {
  // The server stops parsing at the frame header, but reads what follows until the peer closes:
  // closing with 2 MiB unread would reset the connection and lose the close frame.
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ws->SendBinary(std::string(2 << 20, 'x'));
  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(1009)) << ws->Error();
}

TEST_F(BadInputTest, APingFloodFromAPeerThatDoesNotReadIsNotAnsweredWithoutBound) {
  // The peer reads nothing and offers a small window: answers back up fast.
  int fd = SendAndNeverRead(http_port(), Upgrade("/ws"));
  ASSERT_GE(fd, 0);
  std::string pings;
  for (int i = 0; i < 4096; ++i) pings += ClientFrame(0x89, "0123456789");
  // Once the answers back up, the server stops reading: the pings stall in the socket.
  size_t sent = 0;
  auto stalled_since = std::chrono::steady_clock::now();
  auto deadline = stalled_since + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::send(fd, pings.data(), pings.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      stalled_since = std::chrono::steady_clock::now();
      continue;
    }
    if (std::chrono::steady_clock::now() - stalled_since > 1s) break;
    std::this_thread::sleep_for(5ms);
  }
  ::close(fd);
  EXPECT_LT(std::chrono::steady_clock::now(), deadline) << "never stalled after " << sent;
  // Kernel buffers on both sides hold a few MiB at most; an unbounded server reads on forever.
  EXPECT_LT(sent, 64u << 20);
}

}  // namespace
}  // namespace herald::testing
