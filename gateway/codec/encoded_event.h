// An event encoded once for each transport, shared read-only by every subscriber and by history.
#pragma once

#include <memory>
#include <string>

#include "herald/v1/event.pb.h"

namespace herald {

struct EncodedEvent {
  herald::v1::Event event;
  // A whole `ServerMessage{events: [event]}`; blocks like this concatenate into one message.
  std::string ws_frame;
  // An SSE event without its `id:` line, which each connection writes itself (the id is the
  // connection's resume token): "event: <type>\ndata: {...}\n\n".
  std::string sse_body;
};

// Encodes `event` for every transport.
std::shared_ptr<const EncodedEvent> EncodeEvent(herald::v1::Event event);

}  // namespace herald
