// Minimal line logging to stderr, one whole line per write so threads do not interleave.
#pragma once

#include "absl/strings/string_view.h"
#include <string_view>

namespace herald {

void LogInfo(absl::string_view line);
void LogWarning(absl::string_view line);
void LogError(absl::string_view line);

}  // namespace herald
