// Server-Sent Events encoding: the JSON form of an event and the text frames around it.
#pragma once

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "herald/v1/event.pb.h"
#include "herald/v1/websocket.pb.h"

namespace herald {

// `application/json` or any `+json` type, parameters ignored, case-insensitive.
bool IsJsonContentType(absl::string_view content_type);
// `text/*`, parameters ignored, case-insensitive.
bool IsTextContentType(absl::string_view content_type);
bool IsValidUtf8(absl::string_view bytes);
// True when `data` is exactly one valid JSON value.
bool IsJson(absl::string_view data);

// The event as one JSON line: {"topic","offset","epoch","type","data"|"data_base64",
// "content_type","meta","time_unix_ms"}, where epoch, type, content_type and meta are left out
// when empty. `data` is the JSON value for JSON content types, a string for text (or an empty
// type with UTF-8 data), and `data_base64` replaces it otherwise.
std::string EventJson(const herald::v1::Event& event);

// An SSE event for `event` without its `id:` line: `event:` (when the type is set) and `data:`,
// ended by a blank line.
std::string SseEventBody(const herald::v1::Event& event);

// A complete SSE control event (`herald.*` type, no id) carrying `json` as its data.
std::string SseControlFrame(absl::string_view type, absl::string_view json);

// Data of `herald.connected`: {"client_id", "subscriptions": [{"topic", "epoch", "offset",
// "recovered"}]}.
std::string ConnectedJson(const herald::v1::Connected& connected);
// Data of `herald.disconnect`: {"code", "reason"}, and "reconnect_after_ms" when one is
// suggested (> 0).
std::string DisconnectJson(uint32_t code, absl::string_view reason,
                           int64_t reconnect_after_ms = 0);
// Data of `herald.unsubscribed`: {"topic"}.
std::string UnsubscribedJson(absl::string_view topic);

}  // namespace herald
