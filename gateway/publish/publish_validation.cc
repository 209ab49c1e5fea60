// Publish request checks.
#include "publish/publish_validation.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codec/sse_encoding.h"
#include "topic/topic.h"

namespace herald {
namespace {

constexpr size_t kMaxTypeBytes = 255;
constexpr size_t kMaxIdempotencyKeyBytes = 128;

bool HasControlCharacter(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return true;
  }
  return false;
}

}  // namespace

size_t PublishedBytes(const herald::v1::PublishRequest& request) {
  size_t bytes = request.data().size() + request.type().size() + request.content_type().size() +
                 request.idempotency_key().size();
  for (const auto& [key, value] : request.meta()) bytes += key.size() + value.size();
  return bytes;
}

absl::Status ValidatePublishRequest(const herald::v1::PublishRequest& request,
                                    size_t max_message_bytes) {
  if (absl::Status topic = ValidateTopic(request.topic()); !topic.ok()) return topic;
  if (absl::StartsWith(request.type(), "herald.")) {
    return absl::InvalidArgumentError("event types starting with 'herald.' are reserved");
  }
  if (request.type().size() > kMaxTypeBytes || HasControlCharacter(request.type())) {
    return absl::InvalidArgumentError(
        "type must be at most 255 bytes without control characters");
  }
  if (request.idempotency_key().size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError("idempotency_key is longer than 128 bytes");
  }
  if (HasControlCharacter(request.content_type())) {
    return absl::InvalidArgumentError("content_type has control characters");
  }
  if (request.type().empty() && request.data().empty()) {
    return absl::InvalidArgumentError("event has neither type nor data");
  }
  if (size_t bytes = PublishedBytes(request); bytes > max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("event is ", bytes, " bytes; the limit is ",
                                                   max_message_bytes));
  }
  if (IsJsonContentType(request.content_type()) && !IsJson(request.data())) {
    return absl::InvalidArgumentError(
        absl::StrCat("data is not valid JSON but content_type is ", request.content_type()));
  }
  return absl::OkStatus();
}

}  // namespace herald
