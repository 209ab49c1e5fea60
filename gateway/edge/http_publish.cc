// The HTTP publish endpoint's logic, apart from Beast.
#include "edge/http_publish.h"

#include <google/protobuf/util/json_util.h>

#include "hub/publish_validation.h"

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
  if (absl::Status status = ValidatePublishRequest(request, context.config.max_message_bytes);
      !status.ok()) {
    done({HttpStatusFor(status), ErrorJson(status)});
    return;
  }
  absl::Status allowed =
      grant.MayPublish(request.topic())
          ? context.publish_admission.Allow(grant)
          : absl::PermissionDeniedError("this token may not publish to " + request.topic());
  if (!allowed.ok()) {
    done({HttpStatusFor(allowed), ErrorJson(allowed)});
    return;
  }
  context.engine.Publish(
      request, [done = std::move(done), topic = request.topic(),
                request_id = request.request_id()](absl::StatusOr<TopicPosition> position) {
        if (!position.ok()) {
          done({HttpStatusFor(position.status()), ErrorJson(position.status())});
          return;
        }
        herald::v1::PublishResponse response;
        response.set_request_id(request_id);
        response.set_topic(topic);
        response.set_offset(position->offset);
        response.set_epoch(position->epoch);
        done({200, ToJson(response)});
      });
}

}  // namespace herald
