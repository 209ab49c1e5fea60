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

// The gateway's own topics (node-to-node Admin calls) start with '#', which ValidateTopic refuses
// for every client: no client can follow or publish to them, and they count in no cap or metric.
inline constexpr char kInternalTopicMark = '#';
inline bool IsInternalTopic(absl::string_view topic) {
  return !topic.empty() && topic.front() == kInternalTopicMark;
}

}  // namespace herald
