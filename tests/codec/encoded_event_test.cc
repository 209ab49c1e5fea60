// An event's encodings leave its epoch out unless asked for it, from an Event or from its bytes.
#include "codec/encoded_event.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"

#include "codec/sse_encoding.h"
#include "herald/v1/websocket.pb.h"

namespace herald {
namespace {

herald::v1::Event MakeEvent() {
  herald::v1::Event event;
  event.set_topic("news.eu");
  event.set_offset(7);
  event.set_epoch("e1b2c3d4e5f6");
  event.set_data("hello");
  event.set_time_unix_ms(1700000000123);
  (*event.mutable_meta())["k"] = "v";
  return event;
}

herald::v1::Event OnlyEvent(const std::string& frame) {
  herald::v1::ServerMessage message;
  EXPECT_TRUE(message.ParseFromString(frame));
  EXPECT_EQ(message.events_size(), 1);
  return message.events_size() == 1 ? message.events(0) : herald::v1::Event();
}

boost::json::object SseJson(const std::string& body) {
  size_t data = body.find("data: ");
  EXPECT_NE(data, std::string::npos);
  return boost::json::parse(body.substr(data + 6)).as_object();
}

void ExpectEncodings(const EncodedEvent& encoded, const herald::v1::Event& event) {
  herald::v1::Event without_epoch = event;
  without_epoch.clear_epoch();
  EXPECT_EQ(OnlyEvent(encoded.ws_frame()).SerializeAsString(), without_epoch.SerializeAsString());
  herald::v1::Event with_epoch = OnlyEvent(encoded.ws_frame(EpochField::kIncluded));
  EXPECT_EQ(with_epoch.epoch(), event.epoch());
  EXPECT_EQ(with_epoch.offset(), event.offset());
  EXPECT_EQ(with_epoch.meta().at("k"), "v");
  EXPECT_EQ(encoded.ws_frame(EpochField::kIncluded).size(),
            encoded.ws_frame().size() + 2 + event.epoch().size());
  EXPECT_EQ(encoded.event().SerializeAsString(), event.SerializeAsString());
  herald::v1::Event from_bytes;
  ASSERT_TRUE(
      from_bytes.ParseFromString(absl::StrCat(encoded.event_bytes(), encoded.epoch_field())));
  EXPECT_EQ(from_bytes.epoch(), event.epoch());
  EXPECT_EQ(from_bytes.data(), event.data());
  EXPECT_EQ(from_bytes.offset(), event.offset());
  EXPECT_EQ(encoded.epoch(), event.epoch());

  EXPECT_FALSE(SseJson(encoded.sse_body()).contains("epoch"));
  EXPECT_EQ(SseJson(encoded.sse_body(EpochField::kIncluded)).at("epoch").as_string(),
            event.epoch().c_str());
  EXPECT_EQ(SseJson(encoded.sse_body(EpochField::kIncluded)).at("offset").to_number<uint64_t>(),
            7u);
}

TEST(EncodedEvent, FromAnEventLeavesTheEpochOutUnlessAsked) {
  herald::v1::Event event = MakeEvent();
  ExpectEncodings(*EncodeEvent(event), event);
}

TEST(EncodedEvent, FromItsBytesLeavesTheEpochOutUnlessAsked) {
  herald::v1::Event event = MakeEvent();
  // As a shared engine writes it: the epoch after the other fields.
  herald::v1::Event without_epoch = event;
  without_epoch.clear_epoch();
  std::string bytes = without_epoch.SerializeAsString() + '\x1a' +
                      static_cast<char>(event.epoch().size()) + event.epoch();
  std::shared_ptr<const EncodedEvent> encoded = EncodedEventFromBytes(bytes);
  ASSERT_NE(encoded, nullptr);
  ExpectEncodings(*encoded, event);
}

// An event that crossed a shared engine is not parsed and encoded again: the frame is its bytes
// with the epoch cut out, wherever the epoch was, and fields this gateway does not know stay.
TEST(EncodedEvent, FromItsBytesKeepsThemAsTheyAreWithoutTheEpoch) {
  herald::v1::Event event = MakeEvent();
  herald::v1::Event without_epoch = event;
  without_epoch.clear_epoch();
  std::string unknown_field = "\xf2\x06\x03new";  // Field 110, length-delimited: "new".
  std::string epoch_field = std::string("\x1a") + static_cast<char>(event.epoch().size()) +
                            event.epoch();
  std::string body = without_epoch.SerializeAsString();
  std::string bytes = epoch_field + body + unknown_field;
  std::shared_ptr<const EncodedEvent> encoded = EncodedEventFromBytes(bytes);
  ASSERT_NE(encoded, nullptr);
  EXPECT_EQ(encoded->event_bytes(), body + unknown_field);
  EXPECT_EQ(encoded->topic(), event.topic());
  EXPECT_EQ(encoded->epoch(), event.epoch());
  EXPECT_EQ(encoded->offset(), event.offset());
  EXPECT_EQ(encoded->time_unix_ms(), event.time_unix_ms());
  EXPECT_EQ(encoded->event().data(), event.data());
  EXPECT_EQ(encoded->event().epoch(), event.epoch());
}

TEST(EncodedEvent, FromBytesThatAreNotAMessageIsNothing) {
  EXPECT_EQ(EncodedEventFromBytes(std::string("\x0a\x05" "ab", 4)), nullptr);  // Cut short.
  EXPECT_EQ(EncodedEventFromBytes(std::string("\x00\x01", 2)), nullptr);     // Tag zero.
  EXPECT_EQ(EncodedEventFromBytes(std::string("\x0f", 1)), nullptr);          // Wire type 7.
  EXPECT_EQ(EncodedEventFromBytes(std::string("\x02\x01x", 3)), nullptr);     // Field zero.
  EXPECT_EQ(EncodedEventFromBytes(std::string("\x0a\x01\xff", 3)), nullptr);  // Topic not UTF-8.
  EXPECT_NE(EncodedEventFromBytes(""), nullptr);  // The empty message is a message.
}

// A history answer lists each event's SSE JSON as SSE delivers it (built once, shared).
TEST(EncodedEvent, SseJsonIsTheDataOfTheSseBody) {
  herald::v1::Event event = MakeEvent();
  std::shared_ptr<const EncodedEvent> encoded = EncodeEvent(event);
  EXPECT_EQ(encoded->sse_json(EpochField::kIncluded), EventJson(event));
  event.set_type("");
  std::shared_ptr<const EncodedEvent> untyped = EncodeEvent(event);
  EXPECT_EQ(absl::StrCat("data: ", untyped->sse_json(), "\n\n"), untyped->sse_body());
  EXPECT_EQ(SseJson(std::string(untyped->sse_body())).at("topic"), event.topic().c_str());
}

TEST(EncodedEvent, AnEventWithoutEpochHasOneEncoding) {
  herald::v1::Event event = MakeEvent();
  event.clear_epoch();
  event.set_offset(0);  // Ephemeral.
  std::shared_ptr<const EncodedEvent> encoded = EncodeEvent(event);
  EXPECT_EQ(&encoded->ws_frame(EpochField::kIncluded), &encoded->ws_frame());
  EXPECT_EQ(&encoded->sse_body(EpochField::kIncluded), &encoded->sse_body());
  EXPECT_EQ(encoded->epoch_field(), "");
  herald::v1::Event from_bytes;
  ASSERT_TRUE(from_bytes.ParseFromString(std::string(encoded->event_bytes())));
  EXPECT_EQ(from_bytes.SerializeAsString(), event.SerializeAsString());
}

}  // namespace
}  // namespace herald
