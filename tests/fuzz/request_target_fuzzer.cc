// Fuzzes what /ws and /sse read from a request: the request target (path, topics, token,
// last_event_id and its resume token) and the token cookie. Every input is tried as both.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "codec/resume_token.h"
#include "edge/request_target.h"
#include "fuzz_check.h"
#include "topic/topic.h"

namespace herald::fuzz {
namespace {

void ParseTarget(std::string_view input) {
  absl::StatusOr<RequestTarget> target = ParseRequestTarget(input);
  if (!target.ok()) {
    HERALD_FUZZ_CHECK(target.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  for (size_t i = 0; i < target->topics.size(); ++i) {
    HERALD_FUZZ_CHECK(ValidateTopic(target->topics[i]).ok());
    HERALD_FUZZ_CHECK(std::find(target->topics.begin() + static_cast<ptrdiff_t>(i) + 1,
                                target->topics.end(), target->topics[i]) == target->topics.end());
  }
  // What the SSE session does with last_event_id.
  if (!target->last_event_id.empty() && !target->topics.empty()) {
    (void)DecodeResumeToken(target->last_event_id, target->topics.size());
  }
}

// The input as a Cookie header: the value found is a view into it, without separators.
void FindCookie(std::string_view header, std::string_view name) {
  std::string_view value = CookieValue(header, name);
  if (value.empty()) return;
  HERALD_FUZZ_CHECK(value.data() >= header.data() &&
                    value.data() + value.size() <= header.data() + header.size());
  HERALD_FUZZ_CHECK(value.find(';') == std::string_view::npos);
}

}  // namespace
}  // namespace herald::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  herald::fuzz::ParseTarget(input);
  herald::fuzz::FindCookie(input, "herald_token");
  herald::fuzz::FindCookie(input, "");
  return 0;
}
