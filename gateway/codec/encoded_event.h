// An event encoded once per transport, shared read-only by every subscriber and by history.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "herald/v1/event.pb.h"

namespace herald {

// Whether an event's encoding names its epoch. A browser client learns a topic's epoch when it
// subscribes; an event carries it only when it is news to that subscriber (the first of a new
// epoch), so the usual encoding leaves it out.
enum class EpochField { kLeftOut, kIncluded };

// Holds the payload once, in the WebSocket encoding; the SSE form and the Event message are
// made from it on first use (history keeps many events that no SSE or gRPC client reads).
class EncodedEvent {
 public:
  explicit EncodedEvent(const herald::v1::Event& event);
  // What EncodedEventFromBytes reads off an encoded Event without parsing it whole.
  struct Head {
    std::string topic;
    std::string epoch;
    uint64_t offset = 0;
    int64_t time_unix_ms = 0;
    // The encoding's bytes without its epoch field(s).
    std::string without_epoch;
  };
  explicit EncodedEvent(Head head);
  EncodedEvent(const EncodedEvent&) = delete;
  EncodedEvent& operator=(const EncodedEvent&) = delete;

  const std::string& topic() const { return topic_; }
  const std::string& epoch() const { return epoch_; }
  uint64_t offset() const { return offset_; }
  int64_t time_unix_ms() const { return time_unix_ms_; }

  // A whole `ServerMessage{events: [event]}`; blocks like this concatenate into one message.
  // Thread-safe.
  const std::string& ws_frame(EpochField epoch = EpochField::kLeftOut) const;
  // The SSE event without its `id:` line, which each connection writes itself (the id is the
  // connection's resume token): "event: <type>\ndata: {...}\n\n". Thread-safe.
  const std::string& sse_body(EpochField epoch = EpochField::kLeftOut) const;
  // The JSON of the event in sse_body() (its `data:` line's value): what a history answer lists.
  // Thread-safe.
  absl::string_view sse_json(EpochField epoch = EpochField::kLeftOut) const;
  // The Event message's own encoding without its epoch (a view into ws_frame()); followed by
  // epoch_field(), the whole event (protobuf fields may come in any order).
  absl::string_view event_bytes() const {
    return absl::string_view(ws_frame_).substr(event_bytes_at_);
  }
  // The epoch as an encoded Event field; empty when the event has no epoch.
  std::string epoch_field() const;
  // The event itself, epoch included. Thread-safe.
  const herald::v1::Event& event() const;

 private:
  // Wraps the encoded event (without its epoch) as the one event of a ServerMessage.
  void SetFrame(absl::string_view event_bytes);
  // The event as in ws_frame_: without its epoch.
  herald::v1::Event Decode() const;

  std::string topic_;
  std::string epoch_;
  uint64_t offset_;
  int64_t time_unix_ms_;
  std::string ws_frame_;
  size_t event_bytes_at_ = 0;  // Where the Event's own bytes start in ws_frame_.
  mutable std::once_flag ws_with_epoch_once_;
  mutable std::string ws_frame_with_epoch_;
  mutable std::once_flag sse_once_;
  mutable std::string sse_body_;
  mutable std::once_flag sse_with_epoch_once_;
  mutable std::string sse_body_with_epoch_;
  mutable std::once_flag event_once_;
  mutable std::unique_ptr<const herald::v1::Event> event_;
};

// The index of the first of the most recent `events` whose encodings in an answer (`size` of
// each) together fit in `max_bytes` (events.size() when not even the last fits): a history
// answer keeps these.
size_t FirstOfLatestWithin(const std::vector<std::shared_ptr<const EncodedEvent>>& events,
                           size_t max_bytes,
                           const std::function<size_t(const EncodedEvent&)>& size);
// What an event adds to a history answer: in JSON (/v1/history), and as a HistoryResponse's
// embedded Event (gRPC).
size_t JsonAnswerBytes(const EncodedEvent& event);
size_t GrpcAnswerBytes(const EncodedEvent& event);

// The head of `event` embedded as length-delimited field `field_number` of an enclosing message
// (its tag and length): followed by event_bytes() and epoch_field(), the whole event.
std::string EmbeddedEventHead(const EncodedEvent& event, int field_number);

// Encodes `event` for every transport.
std::shared_ptr<const EncodedEvent> EncodeEvent(const herald::v1::Event& event);
// The same from an encoded Event (as it crossed a shared engine), without parsing or encoding
// it again: its topic, position and time are read off the wire format, and the frame is those
// bytes with the epoch cut out; the Event message is parsed only if a client needs it (SSE,
// gRPC). Null when the bytes are not a well-formed protobuf message.
std::shared_ptr<const EncodedEvent> EncodedEventFromBytes(absl::string_view event_bytes);

// The event a publish makes, accepted at `time_unix_ms`, before an engine gives it its topic
// position (epoch and offset).
herald::v1::Event EventFromPublish(const herald::v1::PublishRequest& request,
                                   int64_t time_unix_ms);

}  // namespace herald
