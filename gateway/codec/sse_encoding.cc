// Server-Sent Events encoding.
#include "codec/sse_encoding.h"

#include <algorithm>

#include <boost/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace herald {
namespace {

// The media type without parameters, lower-cased: "Application/JSON; charset=x" -> "application/json".
std::string MediaType(absl::string_view content_type) {
  absl::string_view type = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(type));
}

// Parses JSON data; null when `data` is not one valid JSON value.
std::optional<boost::json::value> ParseJson(absl::string_view data) {
  boost::system::error_code error;
  boost::json::value value =
      boost::json::parse(boost::json::string_view(data.data(), data.size()), error);
  if (error) return std::nullopt;
  return value;
}

}  // namespace

bool IsJsonContentType(absl::string_view content_type) {
  std::string type = MediaType(content_type);
  return type == "application/json" || absl::EndsWith(type, "+json");
}

bool IsTextContentType(absl::string_view content_type) {
  return absl::StartsWith(MediaType(content_type), "text/");
}

bool IsJson(absl::string_view data) { return ParseJson(data).has_value(); }

bool IsValidUtf8(absl::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    size_t length;
    uint32_t code_point;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + length > bytes.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      unsigned char continuation = static_cast<unsigned char>(bytes[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string EventJson(const herald::v1::Event& event) {
  // Written as three parts so JSON data goes out as the publisher wrote it (numbers keep their
  // text: 194.16, not 1.9416E2), on one line: in valid JSON a line break can only be whitespace.
  boost::json::object head;
  head["topic"] = event.topic();
  head["offset"] = event.offset();
  if (!event.epoch().empty()) head["epoch"] = event.epoch();
  if (!event.type().empty()) head["type"] = event.type();
  const std::string& data = event.data();
  std::string data_member;
  if (IsJsonContentType(event.content_type()) && IsJson(data)) {
    std::string text = data;
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    data_member = absl::StrCat("\"data\":", text);
  } else if ((IsTextContentType(event.content_type()) || event.content_type().empty()) &&
             IsValidUtf8(data)) {
    data_member = absl::StrCat(
        "\"data\":", boost::json::serialize(boost::json::string_view(data.data(), data.size())));
  } else {
    data_member = absl::StrCat("\"data_base64\":\"", absl::Base64Escape(data), "\"");
  }
  boost::json::object tail;
  if (!event.content_type().empty()) tail["content_type"] = event.content_type();
  if (!event.meta().empty()) {
    boost::json::object meta;
    for (const auto& [key, value] : event.meta()) meta[key] = value;
    tail["meta"] = std::move(meta);
  }
  tail["time_unix_ms"] = event.time_unix_ms();
  std::string head_json = boost::json::serialize(head);
  std::string tail_json = boost::json::serialize(tail);
  head_json.pop_back();  // '}'
  return absl::StrCat(head_json, ",", data_member, ",", absl::string_view(tail_json).substr(1));
}

std::string ConnectedJson(const herald::v1::Connected& connected) {
  boost::json::array subscriptions;
  for (const herald::v1::SubscribeResult& result : connected.subscriptions()) {
    subscriptions.push_back(boost::json::object{{"topic", result.topic()},
                                                {"epoch", result.epoch()},
                                                {"offset", result.offset()},
                                                {"recovered", result.recovered()}});
  }
  return boost::json::serialize(boost::json::object{
      {"client_id", connected.client_id()},
      {"node", connected.node()},
      {"subscriptions", std::move(subscriptions)}});
}

std::string DisconnectJson(uint32_t code, absl::string_view reason, int64_t reconnect_after_ms) {
  boost::json::object json{{"code", code}, {"reason", std::string(reason)}};
  if (reconnect_after_ms > 0) json["reconnect_after_ms"] = reconnect_after_ms;
  return boost::json::serialize(json);
}

std::string UnsubscribedJson(absl::string_view topic) {
  return boost::json::serialize(boost::json::object{{"topic", std::string(topic)}});
}

std::string SseEventBody(const herald::v1::Event& event) {
  std::string frame;
  if (!event.type().empty()) absl::StrAppend(&frame, "event: ", event.type(), "\n");
  absl::StrAppend(&frame, "data: ", EventJson(event), "\n\n");
  return frame;
}

std::string SseControlFrame(absl::string_view type, absl::string_view json) {
  return absl::StrCat("event: ", type, "\ndata: ", json, "\n\n");
}

}  // namespace herald
