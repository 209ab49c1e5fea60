// Encoding of one event for WebSocket and SSE.
#include "codec/encoded_event.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codec/sse_encoding.h"

namespace herald {

namespace {

void AppendVarint(uint64_t value, std::string* out) {
  for (; value >= 0x80; value >>= 7) out->push_back(static_cast<char>((value & 0x7f) | 0x80));
  out->push_back(static_cast<char>(value));
}

// A length-delimited field: its tag, the length, the bytes.
void AppendBytesField(char tag, absl::string_view bytes, std::string* out) {
  out->push_back(tag);
  AppendVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

constexpr char kServerMessageEventsTag = '\x0a';  // Field 1, length-delimited.
constexpr char kEventEpochTag = '\x1a';           // Field 3, length-delimited.
// A field's tag and length before an embedded message of up to 4 GiB.
constexpr size_t kMaxEmbeddedHeadBytes = 1 + 5;

}  // namespace

EncodedEvent::EncodedEvent(const herald::v1::Event& event)
    : topic_(event.topic()),
      epoch_(event.epoch()),
      offset_(event.offset()),
      time_unix_ms_(event.time_unix_ms()) {
  herald::v1::Event without_epoch = event;
  without_epoch.clear_epoch();
  SetFrame(without_epoch.SerializeAsString());
}

EncodedEvent::EncodedEvent(Head head)
    : topic_(std::move(head.topic)),
      epoch_(std::move(head.epoch)),
      offset_(head.offset),
      time_unix_ms_(head.time_unix_ms) {
  SetFrame(head.without_epoch);
}

void EncodedEvent::SetFrame(absl::string_view event_bytes) {
  ws_frame_.reserve(event_bytes.size() + 11);
  AppendBytesField(kServerMessageEventsTag, event_bytes, &ws_frame_);
  event_bytes_at_ = ws_frame_.size() - event_bytes.size();
}

herald::v1::Event EncodedEvent::Decode() const {
  herald::v1::Event event;
  // Our own encoding: it parses.
  absl::string_view bytes = absl::string_view(ws_frame_).substr(event_bytes_at_);
  event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  return event;
}

const std::string& EncodedEvent::ws_frame(EpochField epoch) const {
  if (epoch == EpochField::kLeftOut || epoch_.empty()) return ws_frame_;
  std::call_once(ws_with_epoch_once_, [this] {
    AppendBytesField(kServerMessageEventsTag, absl::StrCat(event_bytes(), epoch_field()),
                     &ws_frame_with_epoch_);
  });
  return ws_frame_with_epoch_;
}

std::string EncodedEvent::epoch_field() const {
  std::string field;
  if (!epoch_.empty()) AppendBytesField(kEventEpochTag, epoch_, &field);
  return field;
}

std::string EmbeddedEventHead(const EncodedEvent& event, int field_number) {
  std::string head;
  AppendVarint(static_cast<uint64_t>(field_number) << 3 | 2, &head);  // Length-delimited.
  AppendVarint(event.event_bytes().size() + event.epoch_field().size(), &head);
  return head;
}

const std::string& EncodedEvent::sse_body(EpochField epoch) const {
  if (epoch == EpochField::kLeftOut || epoch_.empty()) {
    std::call_once(sse_once_, [this] { sse_body_ = SseEventBody(Decode()); });
    return sse_body_;
  }
  std::call_once(sse_with_epoch_once_, [this] { sse_body_with_epoch_ = SseEventBody(event()); });
  return sse_body_with_epoch_;
}

absl::string_view EncodedEvent::sse_json(EpochField epoch) const {
  // "event: <type>\n" (a type holds no line break), then "data: <json>\n\n".
  absl::string_view body = sse_body(epoch);
  if (absl::StartsWith(body, "event: ")) body.remove_prefix(body.find('\n') + 1);
  body.remove_prefix(std::string_view("data: ").size());
  body.remove_suffix(2);
  return body;
}

const herald::v1::Event& EncodedEvent::event() const {
  std::call_once(event_once_, [this] {
    herald::v1::Event event = Decode();
    event.set_epoch(epoch_);
    event_ = std::make_unique<const herald::v1::Event>(std::move(event));
  });
  return *event_;
}

std::shared_ptr<const EncodedEvent> EncodeEvent(const herald::v1::Event& event) {
  return std::make_shared<const EncodedEvent>(event);
}

std::shared_ptr<const EncodedEvent> EncodedEventFromBytes(absl::string_view event_bytes) {
  using google::protobuf::internal::WireFormatLite;
  if (event_bytes.size() > static_cast<size_t>(INT32_MAX)) return nullptr;
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const uint8_t*>(event_bytes.data()), static_cast<int>(event_bytes.size()));
  EncodedEvent::Head head;
  head.without_epoch.reserve(event_bytes.size());
  for (;;) {
    int start = input.CurrentPosition();
    uint32_t tag = input.ReadTag();
    if (tag == 0) {
      // The end, or a malformed tag (zero is not a valid one).
      if (static_cast<size_t>(start) != event_bytes.size()) return nullptr;
      break;
    }
    uint32_t field = WireFormatLite::GetTagFieldNumber(tag);
    WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
    if (field == 0) return nullptr;  // Not a field of any message.
    bool ok = true;
    bool is_epoch = false;
    if (field == herald::v1::Event::kTopicFieldNumber &&
        type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      ok = WireFormatLite::ReadString(&input, &head.topic);
    } else if (field == herald::v1::Event::kEpochFieldNumber &&
               type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      ok = WireFormatLite::ReadString(&input, &head.epoch);
      is_epoch = true;
    } else if (field == herald::v1::Event::kOffsetFieldNumber &&
               type == WireFormatLite::WIRETYPE_VARINT) {
      ok = input.ReadVarint64(&head.offset);
    } else if (field == herald::v1::Event::kTimeUnixMsFieldNumber &&
               type == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t time = 0;
      ok = input.ReadVarint64(&time);
      head.time_unix_ms = static_cast<int64_t>(time);
    } else {
      ok = WireFormatLite::SkipField(&input, tag);
    }
    if (!ok) return nullptr;
    if (!is_epoch) {
      head.without_epoch.append(event_bytes.data() + start,
                                static_cast<size_t>(input.CurrentPosition() - start));
    }
  }
  // The strings a delivery uses as they are must be what a parse would accept.
  if (!google::protobuf::internal::IsStructurallyValidUTF8(head.topic) ||
      !google::protobuf::internal::IsStructurallyValidUTF8(head.epoch)) {
    return nullptr;
  }
  return std::make_shared<const EncodedEvent>(std::move(head));
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

size_t JsonAnswerBytes(const EncodedEvent& event) {
  return event.sse_json(EpochField::kIncluded).size() + 1;  // And its comma.
}

size_t GrpcAnswerBytes(const EncodedEvent& event) {
  return event.event_bytes().size() + event.epoch_field().size() + kMaxEmbeddedHeadBytes;
}

size_t FirstOfLatestWithin(const std::vector<std::shared_ptr<const EncodedEvent>>& events,
                           size_t max_bytes,
                           const std::function<size_t(const EncodedEvent&)>& size_of) {
  size_t bytes = 0;
  size_t first = events.size();
  while (first > 0) {
    size_t size = size_of(*events[first - 1]);
    if (bytes + size > max_bytes) break;
    bytes += size;
    --first;
  }
  return first;
}

}  // namespace herald
