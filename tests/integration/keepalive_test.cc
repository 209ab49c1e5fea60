// Liveness: idle WebSocket peers are pinged and kept, dead ones are closed; slow handshakes are cut.
#include <gtest/gtest.h>

#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

class KeepaliveTest : public GatewayTest {};

TEST_F(KeepaliveTest, AnsweringPeersStayAndSilentPeersAreClosed) {
  StartGateway({"--ws_ping_interval=300ms"});
  std::shared_ptr<WsClient> live = ConnectWs("/ws?topic=quiet");
  WsOptions silent_options;
  silent_options.start_reading = false;  // Reads nothing, so it never answers a ping.
  WsHandshakeResult silent =
      WsClient::TryConnect(loop_, http_port(), "/ws?topic=quiet", silent_options);
  ASSERT_TRUE(live && silent.client);

  // Five ping intervals: a peer that answers pings is kept through all of them.
  EXPECT_FALSE(live->WaitForClose(1500ms).has_value());
  ASSERT_TRUE(Publish(Request("quiet", "still here")).ok());
  EXPECT_TRUE(live->WaitForEvents(1, kWait));

  // The silent peer was dropped after two intervals without an answer.
  silent.client->StartReading();
  std::optional<uint16_t> code = silent.client->WaitForClose(kWait);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(silent.client->EventCount(), 0u);
}

TEST_F(KeepaliveTest, AClientThatNeverFinishesItsRequestIsCut) {
  StartGateway({"--handshake_timeout=300ms"});
  auto started = std::chrono::steady_clock::now();
  std::string answer = RawExchange(http_port(), "GET /ws HTTP/1.1\r\nHost: x\r\n", 8s);
  EXPECT_EQ(answer, "");
  // Cut by the server long before the exchange's own 8 s limit.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace herald::testing
