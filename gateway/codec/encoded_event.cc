// Encoding of one event for WebSocket and SSE.
#include "codec/encoded_event.h"

#include "codec/sse_encoding.h"
#include "herald/v1/websocket.pb.h"

namespace herald {

EncodedEvent::EncodedEvent(const herald::v1::Event& event)
    : topic_(event.topic()),
      epoch_(event.epoch()),
      offset_(event.offset()),
      time_unix_ms_(event.time_unix_ms()) {
  herald::v1::ServerMessage message;
  *message.add_events() = event;
  message.SerializeToString(&ws_frame_);
}

EncodedEvent::EncodedEvent(herald::v1::Event event, absl::string_view event_bytes)
    : topic_(event.topic()),
      epoch_(event.epoch()),
      offset_(event.offset()),
      time_unix_ms_(event.time_unix_ms()) {
  // ServerMessage field 1 (events), length-delimited: tag, length, the Event's bytes.
  ws_frame_.reserve(event_bytes.size() + 11);
  ws_frame_.push_back('\x0a');
  for (uint64_t length = event_bytes.size(); ; length >>= 7) {
    if (length < 0x80) {
      ws_frame_.push_back(static_cast<char>(length));
      break;
    }
    ws_frame_.push_back(static_cast<char>((length & 0x7f) | 0x80));
  }
  ws_frame_.append(event_bytes.data(), event_bytes.size());
  std::call_once(event_once_, [&] {
    event_ = std::make_unique<const herald::v1::Event>(std::move(event));
  });
}

herald::v1::Event EncodedEvent::Decode() const {
  herald::v1::ServerMessage message;
  // Our own encoding: it parses, and holds exactly one event.
  message.ParseFromString(ws_frame_);
  return std::move(*message.mutable_events(0));
}

const std::string& EncodedEvent::sse_body() const {
  std::call_once(sse_once_, [this] { sse_body_ = SseEventBody(Decode()); });
  return sse_body_;
}

const herald::v1::Event& EncodedEvent::event() const {
  std::call_once(event_once_,
                 [this] { event_ = std::make_unique<const herald::v1::Event>(Decode()); });
  return *event_;
}

std::shared_ptr<const EncodedEvent> EncodeEvent(const herald::v1::Event& event) {
  return std::make_shared<const EncodedEvent>(event);
}

std::shared_ptr<const EncodedEvent> EncodedEventFromBytes(absl::string_view event_bytes) {
  herald::v1::Event event;
  if (event_bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !event.ParseFromArray(event_bytes.data(), static_cast<int>(event_bytes.size()))) {
    return nullptr;
  }
  return std::make_shared<const EncodedEvent>(std::move(event), event_bytes);
}

herald::v1::Event EventFromPublish(const herald::v1::PublishRequest& request,
                                   int64_t time_unix_ms) {
  herald::v1::Event event;
  event.set_topic(request.topic());
  event.set_type(request.type());
  event.set_data(request.data());
  event.set_content_type(request.content_type());
  event.mutable_meta()->insert(request.meta().begin(), request.meta().end());
  event.set_time_unix_ms(time_unix_ms);
  return event;
}

size_t FirstOfLatestWithin(const std::vector<std::shared_ptr<const EncodedEvent>>& events,
                           size_t max_bytes) {
  size_t bytes = 0;
  size_t first = events.size();
  while (first > 0) {
    size_t size = events[first - 1]->ws_frame().size();
    if (bytes + size > max_bytes) break;
    bytes += size;
    --first;
  }
  return first;
}

}  // namespace herald
