// absl::Status to herald.v1.Error (the code numbers are gRPC's, which absl shares).
#include "hub/error_proto.h"

namespace herald {

std::optional<Disconnect> RefusedTopicDisconnect(
    const std::vector<absl::StatusOr<herald::v1::SubscribeResult>>& results) {
  for (const absl::StatusOr<herald::v1::SubscribeResult>& result : results) {
    if (result.ok()) continue;
    uint16_t code = result.status().code() == absl::StatusCode::kResourceExhausted ? 4429 : 4400;
    return Disconnect{code, std::string(result.status().message())};
  }
  return std::nullopt;
}

herald::v1::Error ErrorProto(const absl::Status& status) {
  herald::v1::Error error;
  error.set_code(static_cast<int32_t>(status.code()));
  error.set_message(std::string(status.message()));
  return error;
}

}  // namespace herald
