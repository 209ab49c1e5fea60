// Shared by the publish fuzz targets: what the gateway does with an accepted publish, checked.
#pragma once

#include "absl/status/status.h"
#include "herald/v1/event.pb.h"
#include "herald/v1/websocket.pb.h"

namespace herald::fuzz {

// The event the engine makes of an accepted publish (as MemoryEngine::Publish does), at a fixed
// position and time.
herald::v1::Event EventFromRequest(const herald::v1::PublishRequest& request);

// Encodes `event` for every transport (EncodeEvent) and aborts unless: the WebSocket frame parses
// back to the same event, the SSE body is exactly `event:` (when typed) and one `data:` line of
// valid JSON ended by a blank line, and that JSON carries the event's fields.
void CheckEventEncodings(const herald::v1::Event& event);

// Aborts unless `reply`, in a ServerMessage as the WebSocket session sends it, parses back.
void CheckReplyRoundTrip(const herald::v1::Reply& reply);

// Aborts unless the HTTP error answer for `status` ({"code","message"}) is valid JSON.
void CheckErrorJson(const absl::Status& status);

}  // namespace herald::fuzz
