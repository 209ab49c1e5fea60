// Credentials of the gRPC port: plain, TLS, or mutual TLS, from the config's files.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace herald {

// How often the gRPC port re-reads its certificate files: renewed certificates take effect
// within this time, without a restart and without dropping a connection.
inline constexpr unsigned kGrpcCertificateRefreshSeconds = 5;

// Insecure without a gRPC certificate; TLS with one; mutual TLS (client certificates signed by
// --grpc_client_ca_file required and verified) with a client CA. The files are checked first.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const Config& config);

}  // namespace herald
