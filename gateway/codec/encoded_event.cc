// Encoding of one event for WebSocket and SSE.
#include "codec/encoded_event.h"

#include "codec/sse_encoding.h"
#include "herald/v1/websocket.pb.h"

namespace herald {

std::shared_ptr<const EncodedEvent> EncodeEvent(herald::v1::Event event) {
  auto encoded = std::make_shared<EncodedEvent>();
  herald::v1::ServerMessage message;
  *message.add_events() = event;
  message.SerializeToString(&encoded->ws_frame);
  encoded->sse_body = SseEventBody(event);
  encoded->event = std::move(event);
  return encoded;
}

}  // namespace herald
