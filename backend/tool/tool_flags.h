// Command-line parsing shared by Herald's tools (herald-publish, herald-ticker).
#pragma once

#include <vector>

#include "absl/strings/string_view.h"

namespace herald {

// Sets the usage message, makes --help list the flags of the tool's own source file (abseil
// looks for a file named like the binary; a binary's '-' is its file's '_'), and parses the
// command line: the positional arguments, argv[0] first.
std::vector<char*> ParseToolFlags(int argc, char** argv, absl::string_view usage,
                                  absl::string_view source_file_stem);

}  // namespace herald
