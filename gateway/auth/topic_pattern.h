// Topic patterns in token claims and publisher keys: `chat.*` one segment, `chat.>` the rest.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace herald {

// OK when `pattern` is a topic whose segments may also be `*` (exactly one segment) or, as the
// last segment, `>` (one or more segments); INVALID_ARGUMENT with the reason otherwise.
absl::Status ValidateTopicPattern(absl::string_view pattern);

// True when `topic` (a valid topic) matches `pattern`. An invalid pattern matches nothing.
bool TopicPatternMatches(absl::string_view pattern, absl::string_view topic);

}  // namespace herald
