// SIGTERM drains: readiness turns 503, clients are told and closed, the process exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <thread>

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

// --drain_window: the closes are spread over the window in a random order, each client is asked
// to wait a moment before reconnecting, and every event accepted before the drain reaches every
// client, the last one closed included.
TEST_F(DrainTest, ADrainWindowSpreadsTheClosesAndLosesNothingAcceptedBefore) {
  StartGateway({"--drain_window=2s", "--shutdown_timeout=8s", "--sse_retry=1500ms"});
  constexpr size_t kWs = 24, kSse = 16, kEvents = 5;
  std::vector<std::shared_ptr<WsClient>> ws;
  std::vector<std::shared_ptr<SseClient>> sse;
  for (size_t i = 0; i < kWs; ++i) ws.push_back(ConnectWs("/ws?topic=spread"));
  for (size_t i = 0; i < kSse; ++i) sse.push_back(ConnectSse("/sse?topic=spread"));
  for (size_t i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(Publish(Request("spread", "e" + std::to_string(i))).ok());
  }

  auto signalled = std::chrono::steady_clock::now();
  ASSERT_TRUE(gateway_->SendSignal(SIGTERM));
  // Not ready at once, while most clients are still connected.
  auto deadline = signalled + kWait;
  HttpResponse ready;
  do {
    ready = Fetch(http_port(), "GET", "/readyz");
  } while (ready.status == 200 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(ready.status, 503);

  // When each client saw its connection end.
  std::vector<std::optional<std::chrono::milliseconds>> ended(kWs + kSse);
  auto record = [&] {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - signalled);
    bool all = true;
    for (size_t i = 0; i < ended.size(); ++i) {
      bool over = i < kWs ? ws[i]->Ended() : sse[i - kWs]->Ended();
      if (over && !ended[i]) ended[i] = now;
      all = all && ended[i].has_value();
    }
    return all;
  };
  while (!record() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  std::vector<std::chrono::milliseconds> times;
  for (const auto& time : ended) {
    ASSERT_TRUE(time.has_value());
    times.push_back(*time);
  }
  std::sort(times.begin(), times.end());
  // Spread over the 2 s window: the first soon, the last about 2 s later, and no burst (the
  // times are taken from the first close, so the signal's own delay does not count).
  EXPECT_LT(times.front(), 1000ms);
  EXPECT_GT(times.back() - times.front(), 1500ms);
  EXPECT_LT(times.back(), 4000ms);
  for (size_t quarter = 0; quarter < 4; ++quarter) {
    auto from = times.front() + 500ms * quarter, to = from + 500ms;
    size_t in_quarter = std::count_if(times.begin(), times.end(), [&](auto time) {
      return time >= from && (time < to || quarter == 3);
    });
    EXPECT_GE(in_quarter, 3u) << "closes between " << from.count() << " and " << to.count()
                              << " ms";
  }

  for (const std::shared_ptr<WsClient>& client : ws) {
    EXPECT_EQ(client->CloseCode(), std::optional<uint16_t>(1001));
    ASSERT_TRUE(client->Disconnect().has_value());
    EXPECT_EQ(client->Disconnect()->code(), 1001u);
    EXPECT_GE(client->Disconnect()->reconnect_after_ms(), 1u);
    EXPECT_LE(client->Disconnect()->reconnect_after_ms(), 1000u);
    ASSERT_EQ(client->EventCount(), kEvents);
  }
  for (const std::shared_ptr<SseClient>& client : sse) {
    ASSERT_EQ(DataEvents(*client).size(), kEvents);
    std::vector<SseEvent> events = client->Events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().type, "herald.disconnect");
    boost::json::object disconnect = Json(events.back().data);
    EXPECT_EQ(disconnect.at("code").to_number<int>(), 1001);
    ASSERT_TRUE(disconnect.contains("reconnect_after_ms")) << events.back().data;
    int64_t suggested = disconnect.at("reconnect_after_ms").to_number<int64_t>();
    EXPECT_GE(suggested, 1);
    EXPECT_LE(suggested, 1000);
    // An EventSource waits `retry:` before it reconnects: --sse_retry and the suggestion.
    EXPECT_EQ(client->Retry(), std::optional<int64_t>(1500 + suggested));
  }
  std::optional<int> exit_code = gateway_->WaitForExit(15s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_TRUE(gateway_->SawLogLine("draining: closing 40 clients over 2s"));
}

TEST_F(DrainTest, ADrainWindowThatLeavesNoTimeToLeaveStopsTheStart) {
  CommandResult result = RunHerald("--drain_window=9500ms --shutdown_timeout=10s");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--drain_window must be at least 0 and leave at least 1s of "
                               "--shutdown_timeout"),
            std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace herald::testing
