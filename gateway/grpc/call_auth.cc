// gRPC call credentials.
#include "grpc/call_auth.h"

#include <string>

namespace herald {

namespace {

// The call's bearer token, or why there is none.
absl::StatusOr<absl::string_view> CallToken(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto authorization = metadata.find("authorization");
  if (authorization == metadata.end()) {
    return absl::UnauthenticatedError("authorization metadata with a bearer token is required");
  }
  const grpc::string_ref& value = authorization->second;
  absl::string_view token = BearerToken(absl::string_view(value.data(), value.size()));
  if (token.empty()) return absl::UnauthenticatedError("authorization is not a bearer token");
  return token;
}

}  // namespace

absl::StatusOr<Grant> AuthenticateCall(const grpc::CallbackServerContext& context,
                                       const Authenticator& authenticator) {
  if (authenticator.open()) return Grant::Open();
  absl::StatusOr<absl::string_view> token = CallToken(context);
  if (!token.ok()) return token.status();
  return authenticator.Authenticate(*token);
}

absl::StatusOr<AdminGrant> AuthenticateAdminCall(const grpc::CallbackServerContext& context,
                                                 const Authenticator& authenticator) {
  // Off is told before a missing key: an operator learns how to turn it on.
  if (!authenticator.admin_enabled()) return authenticator.AuthenticateAdmin("");
  absl::StatusOr<absl::string_view> token = CallToken(context);
  if (!token.ok()) return token.status();
  return authenticator.AuthenticateAdmin(*token);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace herald
