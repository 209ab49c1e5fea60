// The HTTP publish endpoint's logic, apart from Beast.
#include "edge/http_publish.h"

#include <google/protobuf/util/json_util.h>

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
    absl::Status status = absl::InvalidArgumentError(
        std::string("body is not a JSON PublishRequest: ") + std::string(parsed.message()));
    done({400, ErrorJson(status)});
    return;
  }
  if (PublishedBytes(request) > context.config.max_message_bytes) {
    done({413, ErrorJson(absl::InvalidArgumentError("event is larger than the message limit"))});
    return;
  }
  context.publish.Publish(request, grant, [done = std::move(done)](PublishOutcome outcome) {
    const absl::StatusOr<TopicPosition>& position = outcome.position;
    if (!position.ok()) {
      done({HttpStatusFor(position.status()), ErrorJson(position.status())});
      return;
    }
    done({200, ToJson(PublishAnswer(outcome))});
  });
}

}  // namespace herald
