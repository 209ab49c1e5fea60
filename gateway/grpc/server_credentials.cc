// gRPC TLS through gRPC's own file-watching certificate provider.
#include "grpc/server_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "edge/tls_context.h"

namespace herald {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const Config& config) {
  if (!config.grpc_tls()) return grpc::InsecureServerCredentials();
  // gRPC only reports unusable files at the first handshake: load them once here to fail early.
  if (absl::StatusOr<std::unique_ptr<TlsContext>> check =
          TlsContext::Load(config.grpc_tls_cert_file, config.grpc_tls_key_file);
      !check.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("gRPC ", check.status().message()));
  }
  bool mutual = !config.grpc_client_ca_file.empty();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.grpc_tls_key_file, config.grpc_tls_cert_file,
      mutual ? config.grpc_client_ca_file : "", kGrpcCertificateRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace herald
