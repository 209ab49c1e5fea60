// Fuzzes POST /v1/publish: a proto3 JSON body to PublishRequest (as http_publish.cc parses it),
// its validation, and the encodings of the event an accepted publish becomes.
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "event_checks.h"
#include "fuzz_check.h"
#include "herald/v1/event.pb.h"
#include "publish/publish_validation.h"

namespace {

// The gateway's default --max_message_bytes.
constexpr size_t kMaxMessageBytes = 65536;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // Invalid UTF-8 is expected, not news.
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  herald::v1::PublishRequest request;
  google::protobuf::util::JsonParseOptions options;
  if (!google::protobuf::util::JsonStringToMessage(body, &request, options).ok()) return 0;
  absl::Status status = herald::ValidatePublishRequest(request, kMaxMessageBytes);
  if (herald::PublishedBytes(request) > kMaxMessageBytes) HERALD_FUZZ_CHECK(!status.ok());
  if (!status.ok()) {
    HERALD_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    herald::fuzz::CheckErrorJson(status);
    return 0;
  }
  herald::fuzz::CheckEventEncodings(herald::fuzz::EventFromRequest(request));
  return 0;
}
