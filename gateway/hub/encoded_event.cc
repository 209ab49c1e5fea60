// Encoding of one event for WebSocket and SSE.
#include "hub/encoded_event.h"

#include "herald/v1/websocket.pb.h"
#include "hub/sse_encoding.h"

namespace herald {

std::shared_ptr<const EncodedEvent> EncodeEvent(herald::v1::Event event) {
  auto encoded = std::make_shared<EncodedEvent>();
  herald::v1::ServerMessage message;
  *message.add_events() = event;
  message.SerializeToString(&encoded->ws_frame);
  encoded->sse_frame = SseEventFrame(event);
  encoded->event = std::move(event);
  return encoded;
}

}  // namespace herald
