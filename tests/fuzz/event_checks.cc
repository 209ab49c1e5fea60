// Checks of the encodings of accepted events and of error replies.
#include "event_checks.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <boost/json.hpp>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "codec/encoded_event.h"
#include "codec/sse_encoding.h"
#include "fuzz_check.h"
#include "codec/error_proto.h"

namespace herald::fuzz {
namespace {

std::string JsonString(const boost::json::value* value) {
  HERALD_FUZZ_CHECK(value != nullptr && value->is_string());
  const boost::json::string& text = value->get_string();
  return std::string(text.data(), text.size());
}

void CheckEventJson(const herald::v1::Event& event, absl::string_view json) {
  boost::system::error_code error;
  boost::json::value value =
      boost::json::parse(boost::json::string_view(json.data(), json.size()), error);
  HERALD_FUZZ_CHECK(!error);
  const boost::json::object* object = value.if_object();
  HERALD_FUZZ_CHECK(object != nullptr);
  HERALD_FUZZ_CHECK(JsonString(object->if_contains("topic")) == event.topic());
  // Epoch and content type are there when not empty.
  const boost::json::value* epoch = object->if_contains("epoch");
  HERALD_FUZZ_CHECK((epoch != nullptr) == !event.epoch().empty());
  if (epoch != nullptr) HERALD_FUZZ_CHECK(JsonString(epoch) == event.epoch());
  const boost::json::value* content_type = object->if_contains("content_type");
  HERALD_FUZZ_CHECK((content_type != nullptr) == !event.content_type().empty());
  if (content_type != nullptr) HERALD_FUZZ_CHECK(JsonString(content_type) == event.content_type());
  if (!event.type().empty())
    HERALD_FUZZ_CHECK(JsonString(object->if_contains("type")) == event.type());
  // Exactly one of data and data_base64; JSON data comes out as the same JSON value.
  const boost::json::value* data = object->if_contains("data");
  const boost::json::value* data_base64 = object->if_contains("data_base64");
  HERALD_FUZZ_CHECK((data == nullptr) != (data_base64 == nullptr));
  if (IsJsonContentType(event.content_type()) && IsJson(event.data())) {
    HERALD_FUZZ_CHECK(data != nullptr);
    HERALD_FUZZ_CHECK(*data == boost::json::parse(boost::json::string_view(event.data().data(),
                                                                           event.data().size())));
  } else if (data != nullptr) {
    HERALD_FUZZ_CHECK(JsonString(data) == event.data());
  }
  const boost::json::value* meta = object->if_contains("meta");
  HERALD_FUZZ_CHECK((meta != nullptr) == !event.meta().empty());
  if (meta != nullptr) {
    HERALD_FUZZ_CHECK(meta->is_object() && meta->get_object().size() == event.meta().size());
    for (const auto& [key, text] : event.meta()) {
      HERALD_FUZZ_CHECK(JsonString(meta->get_object().if_contains(key)) == text);
    }
  }
}

// "event: <type>\n" (when typed), "data: <json>\n", "\n": nothing else, and no CR anywhere (SSE
// also ends lines at CR).
void CheckSseBody(const herald::v1::Event& event, absl::string_view body) {
  HERALD_FUZZ_CHECK(body.find('\r') == absl::string_view::npos);
  if (!event.type().empty()) {
    std::string event_line = absl::StrCat("event: ", event.type(), "\n");
    HERALD_FUZZ_CHECK(absl::StartsWith(body, event_line));
    body.remove_prefix(event_line.size());
  }
  HERALD_FUZZ_CHECK(absl::ConsumePrefix(&body, "data: "));
  HERALD_FUZZ_CHECK(absl::ConsumeSuffix(&body, "\n\n"));
  HERALD_FUZZ_CHECK(body.find('\n') == absl::string_view::npos);
  CheckEventJson(event, body);
}

}  // namespace

herald::v1::Event EventFromRequest(const herald::v1::PublishRequest& request) {
  herald::v1::Event event = EventFromPublish(request, 1'700'000'000'000);
  if (!request.ephemeral()) {
    event.set_offset(42);
    event.set_epoch("a1b2c3d4e5f6a7b8");
  }
  return event;
}

void CheckEventEncodings(const herald::v1::Event& event) {
  std::shared_ptr<const EncodedEvent> encoded = EncodeEvent(event);
  herald::v1::ServerMessage frame;
  HERALD_FUZZ_CHECK(frame.ParseFromString(encoded->ws_frame(EpochField::kIncluded)));
  HERALD_FUZZ_CHECK(frame.events_size() == 1);
  HERALD_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(frame.events(0), event));
  HERALD_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(encoded->event(), event));
  // The usual encoding: the same without the epoch.
  herald::v1::Event without_epoch = event;
  without_epoch.clear_epoch();
  herald::v1::ServerMessage usual;
  HERALD_FUZZ_CHECK(usual.ParseFromString(encoded->ws_frame()));
  HERALD_FUZZ_CHECK(usual.events_size() == 1);
  HERALD_FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(usual.events(0), without_epoch));
  // Made from the decoded frame: the same but for the order of meta (a protobuf map).
  CheckSseBody(event, encoded->sse_body(EpochField::kIncluded));
  CheckSseBody(without_epoch, encoded->sse_body());
}

void CheckReplyRoundTrip(const herald::v1::Reply& reply) {
  herald::v1::ServerMessage message;
  *message.add_replies() = reply;
  std::string frame;
  HERALD_FUZZ_CHECK(message.SerializeToString(&frame));
  herald::v1::ServerMessage parsed;
  HERALD_FUZZ_CHECK(parsed.ParseFromString(frame));
  HERALD_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(parsed, message));
}

void CheckErrorJson(const absl::Status& status) {
  // As http_publish.cc's ErrorJson.
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  HERALD_FUZZ_CHECK(
      google::protobuf::util::MessageToJsonString(ErrorProto(status), &json, options).ok());
  boost::system::error_code error;
  boost::json::parse(boost::json::string_view(json.data(), json.size()), error);
  HERALD_FUZZ_CHECK(!error);
}

}  // namespace herald::fuzz
