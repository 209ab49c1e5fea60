// Command-line parsing shared by Herald's binaries.
#include "tool/tool_flags.h"

#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace herald {

absl::string_view HeraldVersion() { return HERALD_VERSION; }

std::vector<char*> ParseToolFlags(int argc, char** argv, absl::string_view program,
                                  absl::string_view usage, absl::string_view flags_file) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [file = std::string(flags_file)](absl::string_view path) {
    return absl::StrContains(path, file);
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  usage_config.version_string = [name = std::string(program)] {
    return absl::StrCat(name, " ", HeraldVersion(), "\n");
  };
  absl::SetFlagsUsageConfig(usage_config);
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace herald
