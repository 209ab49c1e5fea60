// Topic names: the grammar every transport checks where a topic enters the gateway.
#pragma once

#include "absl/strings/string_view.h"
#include <string_view>

#include "absl/status/status.h"

namespace herald {

inline constexpr size_t kMaxTopicBytes = 255;

// OK when `topic` is 1-255 bytes of [A-Za-z0-9_-:@=.] made of non-empty dot-separated segments;
// INVALID_ARGUMENT with the reason otherwise.
absl::Status ValidateTopic(absl::string_view topic);

}  // namespace herald
