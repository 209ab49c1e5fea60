// An event encoded once for each transport, shared read-only by every subscriber.
#pragma once

#include <memory>
#include <string>

#include "herald/v1/event.pb.h"

namespace herald {

struct EncodedEvent {
  herald::v1::Event event;
  // A whole `ServerMessage{events: [event]}`; blocks like this concatenate into one message.
  std::string ws_frame;
  // A whole SSE event: "id: ...\nevent: ...\ndata: {...}\n\n".
  std::string sse_frame;
};

// Encodes `event` for every transport.
std::shared_ptr<const EncodedEvent> EncodeEvent(herald::v1::Event event);

}  // namespace herald
