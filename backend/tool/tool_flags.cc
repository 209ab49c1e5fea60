// Command-line parsing shared by Herald's tools.
#include "tool/tool_flags.h"

#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace herald {

std::vector<char*> ParseToolFlags(int argc, char** argv, absl::string_view usage,
                                  absl::string_view source_file_stem) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [stem = std::string(source_file_stem)](
                                         absl::string_view path) {
    return absl::StrContains(path, stem);
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace herald
