// Credentials of a gRPC call: the `authorization: Bearer <token>` metadata, checked once per call.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "auth/authenticator.h"

namespace herald {

// The grant of the call's bearer token (a publisher key or a JWT); UNAUTHENTICATED when it is
// missing or invalid and keys are configured.
absl::StatusOr<Grant> AuthenticateCall(const grpc::CallbackServerContext& context,
                                       const Authenticator& authenticator);

// The admin grant of the call's bearer token (Authenticator::AuthenticateAdmin).
absl::StatusOr<AdminGrant> AuthenticateAdminCall(const grpc::CallbackServerContext& context,
                                                 const Authenticator& authenticator);

// The gRPC status of an absl status (same code numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace herald
