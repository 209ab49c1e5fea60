// SIGTERM drains: readiness turns 503, clients are told and closed, the process exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

class DrainTest : public GatewayTest {};

TEST_F(DrainTest, SigtermTellsEveryClientAndExitsZero) {
  StartGateway({"--shutdown_timeout=3s"});
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=news");
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=news");
  ASSERT_TRUE(ws && sse);
  // A client that does not read keeps the drain busy until the deadline, which leaves time to
  // look at the gateway while it drains.
  std::shared_ptr<WsClient> stalled = ConnectStalledWs("/ws?topic=bulk");
  ASSERT_TRUE(stalled);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(Publish(Request("bulk", std::string(1024, 'b'))).ok());
  }

  ASSERT_TRUE(gateway_->SendSignal(SIGTERM));

  EXPECT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(1001));
  ASSERT_TRUE(ws->Disconnect().has_value());
  EXPECT_EQ(ws->Disconnect()->code(), 1001u);
  EXPECT_EQ(ws->Disconnect()->reason(), "shutdown");

  ASSERT_TRUE(sse->WaitForEnd(kWait));
  EXPECT_TRUE(sse->BodyComplete());
  std::vector<SseEvent> events = sse->Events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "herald.disconnect");
  EXPECT_EQ(Json(events.back().data).at("code").to_number<int>(), 1001);

  EXPECT_EQ(Fetch(http_port(), "GET", "/readyz").status, 503);
  EXPECT_EQ(Fetch(http_port(), "GET", "/healthz").status, 200);
  WsHandshakeResult late = WsClient::TryConnect(loop_, http_port(), "/ws?topic=news");
  EXPECT_EQ(late.client, nullptr);
  EXPECT_EQ(late.http_status, 503);

  std::optional<int> exit_code = gateway_->WaitForExit(15s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_TRUE(gateway_->WaitForLogLine("drained", kWait));
}

TEST_F(DrainTest, OpenPublishStreamsAreEndedWithUnavailableInsteadOfHoldingTheShutdown) {
  StartGateway();  // The default 10 s deadline: the drain must not need it.
  grpc::ClientContext context;
  auto stream = publisher_->PublishStream(&context);
  ASSERT_TRUE(stream->Write(Request("t", "before")));
  herald::v1::PublishResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.offset(), 1u);

  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(gateway_->SendSignal(SIGTERM));
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  std::optional<int> exit_code = gateway_->WaitForExit(15s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(DrainTest, IdleGatewayExitsAtOnceOnSigint) {
  StartGateway();
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(gateway_->SendSignal(SIGINT));
  std::optional<int> exit_code = gateway_->WaitForExit(15s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  // Nothing to wait for: no need to sit out the 10 s shutdown deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace herald::testing
