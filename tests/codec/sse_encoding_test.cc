// SSE encoding of JSON, text and binary payloads, and the frames around them.
#include "codec/sse_encoding.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace herald {
namespace {

herald::v1::Event MakeEvent(std::string data, std::string content_type) {
  herald::v1::Event event;
  event.set_topic("news.eu");
  event.set_offset(7);
  event.set_epoch("e1");
  event.set_type("article");
  event.set_data(std::move(data));
  event.set_content_type(std::move(content_type));
  event.set_time_unix_ms(1700000000123);
  return event;
}

boost::json::object ParseObject(const std::string& json) {
  return boost::json::parse(json).as_object();
}

TEST(EventJson, EmptyEpochAndContentTypeAreLeftOut) {
  herald::v1::Event event = MakeEvent("plain words", "");
  event.clear_epoch();
  boost::json::object json = ParseObject(EventJson(event));
  EXPECT_FALSE(json.contains("epoch"));
  EXPECT_FALSE(json.contains("content_type"));
  EXPECT_EQ(json.at("data"), "plain words");
  EXPECT_EQ(json.at("offset").to_number<uint64_t>(), 7u);
}

TEST(EventJson, JsonPayloadIsEmbeddedAsAValue) {
  boost::json::object json =
      ParseObject(EventJson(MakeEvent(R"({"title": "x", "n": [1, 2]})", "application/json")));
  EXPECT_EQ(json.at("topic"), "news.eu");
  EXPECT_EQ(json.at("offset").to_number<uint64_t>(), 7u);
  EXPECT_EQ(json.at("epoch"), "e1");
  EXPECT_EQ(json.at("type"), "article");
  EXPECT_EQ(json.at("data").at("title"), "x");
  EXPECT_EQ(json.at("data").at("n").as_array().size(), 2u);
  EXPECT_EQ(json.at("content_type"), "application/json");
  EXPECT_EQ(json.at("time_unix_ms").as_int64(), 1700000000123);
  EXPECT_FALSE(json.contains("data_base64"));
  EXPECT_FALSE(json.contains("meta"));
}

TEST(EventJson, JsonDataKeepsThePublishersTextOnOneLine) {
  std::string json = EventJson(MakeEvent("{\n  \"price\": 194.16,\r\n  \"big\": 12345678901234567890\n}",
                                         "application/json"));
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.find('\r'), std::string::npos);
  EXPECT_NE(json.find("\"price\": 194.16,"), std::string::npos) << json;
  EXPECT_NE(json.find("12345678901234567890"), std::string::npos) << json;
  boost::json::object parsed = ParseObject(json);
  EXPECT_DOUBLE_EQ(parsed.at("data").at("price").as_double(), 194.16);
  EXPECT_EQ(parsed.at("time_unix_ms").as_int64(), 1700000000123);
}

TEST(EventJson, PlusJsonTypesWithParametersAreJson) {
  boost::json::object json =
      ParseObject(EventJson(MakeEvent("[true]", "application/cloudevents+JSON; charset=utf-8")));
  EXPECT_TRUE(json.at("data").is_array());
}

TEST(EventJson, TextAndUntypedUtf8AreStrings) {
  boost::json::object text = ParseObject(EventJson(MakeEvent("héllo \"quoted\"\n", "text/plain")));
  EXPECT_EQ(text.at("data"), "héllo \"quoted\"\n");
  boost::json::object untyped = ParseObject(EventJson(MakeEvent("plain", "")));
  EXPECT_EQ(untyped.at("data"), "plain");
}

TEST(EventJson, BinaryAndInvalidUtf8AreBase64) {
  boost::json::object binary =
      ParseObject(EventJson(MakeEvent(std::string("\x00\x01\xff", 3), "application/octet-stream")));
  EXPECT_FALSE(binary.contains("data"));
  EXPECT_EQ(binary.at("data_base64"), "AAH/");
  boost::json::object bad_text = ParseObject(EventJson(MakeEvent("\xc3\x28", "text/plain")));
  EXPECT_EQ(bad_text.at("data_base64"), "wyg=");
}

TEST(EventJson, MetaIsAnObjectAndEmptyTypeIsLeftOut) {
  herald::v1::Event event = MakeEvent("x", "text/plain");
  event.clear_type();
  (*event.mutable_meta())["trace"] = "abc";
  boost::json::object json = ParseObject(EventJson(event));
  EXPECT_FALSE(json.contains("type"));
  EXPECT_EQ(json.at("meta").at("trace"), "abc");
}

TEST(SseEventBody, TypeAndOneDataLineWithoutId) {
  std::string frame = SseEventBody(MakeEvent("{\n\"a\": 1\n}", "application/json"));
  EXPECT_EQ(frame.rfind("event: article\n", 0), 0u) << frame;
  EXPECT_EQ(frame.find("id:"), std::string::npos);
  size_t data = frame.find("data: ");
  ASSERT_NE(data, std::string::npos);
  // The pretty-printed JSON payload is compacted: the data field is a single line.
  EXPECT_EQ(frame.find('\n', data), frame.size() - 2);
  EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n");
}

TEST(SseControlFrame, ConnectedAndDisconnectData) {
  herald::v1::Connected connected;
  connected.set_client_id("c1");
  connected.set_node("n1");
  herald::v1::SubscribeResult* result = connected.add_subscriptions();
  result->set_topic("a");
  result->set_epoch("e");
  result->set_offset(3);
  boost::json::object json = ParseObject(ConnectedJson(connected));
  EXPECT_EQ(json.at("client_id"), "c1");
  EXPECT_EQ(json.at("node"), "n1");
  EXPECT_EQ(json.at("subscriptions").at(0).at("offset").to_number<uint64_t>(), 3u);
  EXPECT_EQ(json.at("subscriptions").at(0).at("recovered"), false);
  EXPECT_EQ(SseControlFrame("herald.disconnect", DisconnectJson(1001, "shutdown")),
            "event: herald.disconnect\ndata: {\"code\":1001,\"reason\":\"shutdown\"}\n\n");
}

TEST(IsValidUtf8, AcceptsUtf8AndRefusesOverlongAndSurrogates) {
  EXPECT_TRUE(IsValidUtf8("ascii é € 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // Overlong '/'.
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // UTF-16 surrogate.
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // Past U+10FFFF.
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // Truncated.
}

}  // namespace
}  // namespace herald
