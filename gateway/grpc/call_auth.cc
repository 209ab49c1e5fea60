// gRPC call credentials.
#include "grpc/call_auth.h"

#include <string>

namespace herald {

absl::StatusOr<Grant> AuthenticateCall(const grpc::CallbackServerContext& context,
                                       const Authenticator& authenticator) {
  if (authenticator.open()) return Grant::Open();
  const auto& metadata = context.client_metadata();
  auto authorization = metadata.find("authorization");
  if (authorization == metadata.end()) {
    return absl::UnauthenticatedError("authorization metadata with a bearer token is required");
  }
  const grpc::string_ref& value = authorization->second;
  absl::string_view token = BearerToken(absl::string_view(value.data(), value.size()));
  if (token.empty()) return absl::UnauthenticatedError("authorization is not a bearer token");
  return authenticator.Authenticate(token);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace herald
