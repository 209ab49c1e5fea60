// The herald-ticker example service against the real gateway: prices in order, and a restart.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "integration/gateway_test.h"

namespace herald::testing {
namespace {

class TickerTest : public GatewayTest {
 protected:
  // Starts herald-ticker against the gateway's gRPC port `grpc_port` with `args`.
  static std::unique_ptr<GatewayProcess> StartTicker(uint16_t grpc_port,
                                                     std::vector<std::string> args) {
    GatewayOptions options;
    options.binary = BinaryPath("herald-ticker");
    options.default_listen_args = false;
    options.wait_for_listening = false;
    options.log_prefix = "[herald-ticker] ";
    options.args = {absl::StrCat("--target=127.0.0.1:", grpc_port)};
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    std::unique_ptr<GatewayProcess> ticker = GatewayProcess::StartWithOptions(options, &error);
    EXPECT_NE(ticker, nullptr) << error;
    return ticker;
  }

  // The price events of `client` grouped by topic, in arrival order.
  static std::map<std::string, std::vector<boost::json::object>> PricesByTopic(
      const SseClient& client) {
    std::map<std::string, std::vector<boost::json::object>> by_topic;
    for (const SseEvent& event : DataEvents(client)) {
      boost::json::object json = Json(event.data);
      by_topic[Str(json.at("topic"))].push_back(std::move(json));
    }
    return by_topic;
  }

  // Checks one topic's events: type, content type, JSON data for `symbol`, offsets from
  // `first_offset` without gaps.
  static void ExpectPrices(const std::vector<boost::json::object>& events,
                           const std::string& symbol, uint64_t first_offset) {
    for (size_t i = 0; i < events.size(); ++i) {
      const boost::json::object& event = events[i];
      SCOPED_TRACE(boost::json::serialize(event));
      EXPECT_EQ(event.at("offset").to_number<uint64_t>(), first_offset + i);
      EXPECT_EQ(Str(event.at("type")), "price");
      EXPECT_EQ(Str(event.at("content_type")), "application/json");
      const boost::json::object& data = event.at("data").as_object();
      EXPECT_EQ(Str(data.at("symbol")), symbol);
      EXPECT_GT(data.at("price").to_number<double>(), 0.0);
      EXPECT_TRUE(data.at("change").is_number());
    }
  }
};

TEST_F(TickerTest, PublishesEachSymbolsPricesInOrderThroughOneStream) {
  StartGateway();
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=prices.HRLD&topic=prices.ACME");
  ASSERT_TRUE(sse);

  std::unique_ptr<GatewayProcess> ticker =
      StartTicker(gateway_->grpc_port(), {"--count=25", "--interval=10ms", "--symbols=HRLD,ACME"});
  ASSERT_NE(ticker, nullptr);
  std::optional<int> exit_code = ticker->WaitForExit(kWait);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);

  ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() >= 50; }, kWait));
  std::map<std::string, std::vector<boost::json::object>> prices = PricesByTopic(*sse);
  ASSERT_EQ(prices.size(), 2u);
  ASSERT_EQ(prices["prices.HRLD"].size(), 25u);
  ASSERT_EQ(prices["prices.ACME"].size(), 25u);
  ExpectPrices(prices["prices.HRLD"], "HRLD", 1);
  ExpectPrices(prices["prices.ACME"], "ACME", 1);

  // One stream: the ticker reports "publishing" once per stream the gateway answered.
  int streams = 0;
  for (const std::string& line : ticker->LogLines()) {
    if (line.find("publishing (") != std::string::npos) ++streams;
  }
  EXPECT_EQ(streams, 1);
}

TEST_F(TickerTest, RefusesBadFlags) {
  // Refused before any connection is attempted: no gateway needed.
  std::unique_ptr<GatewayProcess> ticker = StartTicker(1, {"--symbols=HR LD", "--count=1"});
  ASSERT_NE(ticker, nullptr);
  std::optional<int> exit_code = ticker->WaitForExit(kWait);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 2);
}

TEST_F(TickerTest, KeepsPublishingAfterTheGatewayRestartsAndStopsOnSigterm) {
  StartGateway();
  const uint16_t grpc_port = gateway_->grpc_port();
  std::unique_ptr<GatewayProcess> ticker =
      StartTicker(grpc_port, {"--interval=20ms", "--retry_delay=100ms", "--symbols=NOVA"});
  ASSERT_NE(ticker, nullptr);
  {
    std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=prices.NOVA");
    ASSERT_TRUE(sse);
    ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() >= 3; }, kWait));
  }

  // Kill the gateway and start a new one on the same gRPC port: the ticker's stream breaks, and
  // it opens a new one once the port answers again.
  gateway_.reset();
  GatewayOptions options;
  options.default_listen_args = false;
  options.args = {"--http_listen=127.0.0.1:0", absl::StrCat("--grpc_listen=127.0.0.1:", grpc_port)};
  std::string error;
  gateway_ = GatewayProcess::StartWithOptions(options, &error);
  ASSERT_NE(gateway_, nullptr) << error;

  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=prices.NOVA");
  ASSERT_TRUE(sse);
  ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() >= 3; }, kWait));
  std::vector<boost::json::object> prices = PricesByTopic(*sse)["prices.NOVA"];
  ASSERT_FALSE(prices.empty());
  // A new gateway, a new history: offsets follow on from wherever this subscriber joined.
  ExpectPrices(prices, "NOVA", prices.front().at("offset").to_number<uint64_t>());
  EXPECT_TRUE(ticker->WaitForLogLine("stream ended", kWait));  // Its log may trail the events.

  ASSERT_TRUE(ticker->SendSignal(SIGTERM));
  std::optional<int> exit_code = ticker->WaitForExit(kWait);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace herald::testing
