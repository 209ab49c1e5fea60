// The herald-publish CLI against the real gateway: one event from a flag, or one per stdin line.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "integration/gateway_test.h"

namespace herald::testing {
namespace {

class PublishCliTest : public GatewayTest {
 protected:
  void SetUp() override { StartGateway(); }

  std::string Cli() const {
    return BinaryPath("herald-publish") + " --target=" + gateway_->grpc_target();
  }
};

TEST_F(PublishCliTest, PublishesOneEventAndPrintsItsPosition) {
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=cli.one");
  ASSERT_TRUE(sse);
  CommandResult result =
      RunCommand(Cli() + " --topic=cli.one --type=greeting --data='hello from the CLI'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<std::string> fields = absl::StrSplit(result.output, ' ');
  ASSERT_EQ(fields.size(), 3u) << result.output;
  EXPECT_EQ(fields[0], "cli.one");
  EXPECT_EQ(fields[1], "1");
  ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() == 1; }, kWait));
  SseEvent event = DataEvents(*sse)[0];
  EXPECT_EQ(event.type, "greeting");
  EXPECT_EQ(Json(event.data).at("data"), "hello from the CLI");
  // The epoch printed is the one in the event's resume id.
  EXPECT_EQ(event.id, absl::StrCat(absl::StripAsciiWhitespace(fields[2]), "-1"));
}

TEST_F(PublishCliTest, PublishesEveryStdinLineThroughOneStream) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=cli.lines");
  ASSERT_TRUE(ws);
  CommandResult result =
      RunCommand("seq 1 500 | " + Cli() + " --topic=cli.lines --content_type=text/plain");
  ASSERT_EQ(result.exit_code, 0);
  std::vector<std::string> lines = absl::StrSplit(result.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 500u);
  EXPECT_EQ(lines.back().substr(0, 14), "cli.lines 500 ");
  ASSERT_TRUE(ws->WaitForEvents(500, kWait));
  std::vector<herald::v1::Event> events = ws->Events();
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].offset(), i + 1);
    EXPECT_EQ(events[i].data(), std::to_string(i + 1));
  }
}

TEST_F(PublishCliTest, ReportsRefusedEventsAndFails) {
  CommandResult result = RunCommand(Cli() + " --topic='bad topic' --data=x 2>/dev/null");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "");
}

}  // namespace
}  // namespace herald::testing
