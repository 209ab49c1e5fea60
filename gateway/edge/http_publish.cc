// The HTTP publish endpoint's logic, apart from Beast.
#include "edge/http_publish.h"

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "publish/publish_validation.h"

namespace herald {
namespace {

// Proto3 JSON with the .proto field names, defaults included.
std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace

unsigned HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorJson(const absl::Status& status) {
  herald::v1::Error error;
  error.set_code(static_cast<int32_t>(status.code()));
  error.set_message(std::string(status.message()));
  return ToJson(error);
}

namespace {

// Why `body` did not parse as a PublishRequest, in the words of its fields: `data` is bytes, so
// in JSON a base64 string (the mistake a newcomer makes first is to put the JSON object there).
std::string PublishJsonProblem(std::string_view body, absl::string_view parser_message) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(boost::json::string_view(body.data(), body.size()), error);
  if (error) return absl::StrCat("the body is not JSON (", error.message(), ")");
  if (!value.is_object()) return "the body must be a JSON object: {\"topic\": ..., \"data\": ...}";
  const boost::json::value* data = value.as_object().if_contains("data");
  if (data != nullptr && !data->is_string() && !data->is_null()) {
    return "\"data\" is bytes: send a base64 string (for JSON data, base64 of its text, e.g. "
           "btoa(JSON.stringify(value)), with \"content_type\": \"application/json\")";
  }
  if (data != nullptr && data->is_string()) {
    std::string decoded;
    const boost::json::string& text = data->as_string();
    if (!absl::Base64Unescape(absl::string_view(text.data(), text.size()), &decoded) &&
        !absl::WebSafeBase64Unescape(absl::string_view(text.data(), text.size()), &decoded)) {
      return "\"data\" is not base64 (bytes travel base64-encoded in JSON)";
    }
  }
  return absl::StrCat("the body is not a JSON PublishRequest: ", parser_message);
}

}  // namespace

void PublishJson(std::string_view body, const Grant& grant, EdgeContext& context,
                 std::function<void(HttpAnswer)> done) {
  herald::v1::PublishRequest request;
  google::protobuf::util::JsonParseOptions parse_options;
  // Fields a newer client knows and this gateway does not are ignored, as proto3 JSON parsers
  // do with ignore_unknown_fields: old gateways keep taking new clients' publishes.
  parse_options.ignore_unknown_fields = true;
  if (google::protobuf::util::Status parsed =
          google::protobuf::util::JsonStringToMessage(body, &request, parse_options);
      !parsed.ok()) {
    absl::Status status = absl::InvalidArgumentError(PublishJsonProblem(
        body, absl::string_view(parsed.message().data(), parsed.message().size())));
    context.metrics.Published(PublishWay::kHttp, status);
    done({400, ErrorJson(status)});
    return;
  }
  if (PublishedBytes(request) > context.config.max_message_bytes) {
    absl::Status status = absl::InvalidArgumentError("event is larger than the message limit");
    context.metrics.Published(PublishWay::kHttp, status);
    done({413, ErrorJson(status)});
    return;
  }
  context.publish.Publish(request, grant, PublishWay::kHttp, [done = std::move(done)](PublishOutcome outcome) {
    const absl::StatusOr<TopicPosition>& position = outcome.position;
    if (!position.ok()) {
      done({HttpStatusFor(position.status()), ErrorJson(position.status())});
      return;
    }
    done({200, ToJson(PublishAnswer(outcome))});
  });
}

}  // namespace herald
