// Command-line parsing shared by Herald's binaries (herald, herald-publish, herald-ticker,
// herald-token).
#pragma once

#include <vector>

#include "absl/strings/string_view.h"

namespace herald {

// The release Herald was built as ("0.9.0").
absl::string_view HeraldVersion();

// Sets the usage message, makes --help list the flags defined in the binary's own source file
// (any file whose path contains `flags_file`; abseil would look for a file named like the
// binary) and --version print "<program> <release>", and parses the command line: the
// positional arguments, argv[0] first.
std::vector<char*> ParseToolFlags(int argc, char** argv, absl::string_view program,
                                  absl::string_view usage, absl::string_view flags_file);

}  // namespace herald
