// The parts of a request target Herald reads: path, topics and the resume token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace herald {

struct RequestTarget {
  std::string path;
  std::vector<std::string> topics;  // Every `topic=` parameter, in order, without repeats.
  std::string last_event_id;        // `last_event_id=` (for EventSource polyfills).
  std::string token;                // `token=` (browsers cannot set headers on WS or SSE).
  uint32_t limit = 0;               // `limit=` (GET /v1/history); 0 when absent.
  // The other parameters, the first value of each, the first 32 (what the Authorizer is told).
  std::vector<std::pair<std::string, std::string>> other_params;
};

// INVALID_ARGUMENT when the target is not an origin-form URL or a topic is invalid.
absl::StatusOr<RequestTarget> ParseRequestTarget(std::string_view target);

// The value of cookie `name` in a Cookie header ("a=1; b=2"); empty when absent.
std::string_view CookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace herald
