// What each binary says about itself: --help lists its own flags, --version its release, and the
// gateway's /metrics the same release.
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

class CommandLineTest : public GatewayTest {};

TEST_F(CommandLineTest, HelpListsEachBinarysOwnFlags) {
  for (auto [binary, flag] : {std::pair{"herald", "--http_listen"},
                              {"herald-token", "--key_file"},
                              {"herald-publish", "--target"},
                              {"herald-admin", "--key_file"},
                              {"herald-ticker", "--target"},
                              {"herald-bench", "--ws_clients"}}) {
    CommandResult help = RunCommand(BinaryPath(binary) + " --help 2>&1");
    EXPECT_EQ(help.exit_code, 1) << binary;  // abseil's exit code for --help.
    EXPECT_TRUE(absl::StrContains(help.output, flag)) << binary << ": " << help.output;
    EXPECT_FALSE(absl::StrContains(help.output, "No flags matched")) << binary;
  }
}

TEST_F(CommandLineTest, VersionNamesTheReleaseAndMetricsSayItToo) {
  CommandResult version = RunCommand(BinaryPath("herald") + " --version 2>&1");
  ASSERT_EQ(version.output.rfind("herald ", 0), 0u) << version.output;
  std::string release(absl::StripAsciiWhitespace(version.output.substr(7)));
  EXPECT_FALSE(release.empty());
  EXPECT_FALSE(absl::StrContains(version.output, "Debug build"));
  EXPECT_EQ(RunCommand(BinaryPath("herald-token") + " --version").output,
            absl::StrCat("herald-token ", release, "\n"));
  StartGateway();
  std::string metrics = Fetch(http_port(), "GET", "/metrics").body;
  EXPECT_TRUE(absl::StrContains(metrics, absl::StrCat("herald_build_info{version=\"", release,
                                                      "\"} 1\n")))
      << metrics.substr(0, 300);
}

}  // namespace
}  // namespace herald::testing
