// gRPC's own log lines, written as Herald's, with the ones a newcomer meets first explained.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace herald {

// Routes gRPC's and protobuf's log lines to Herald's log (call once, before the gRPC server
// starts).
void RouteGrpcLogs();

// The line Herald writes for a gRPC log message: prefixed "grpc: ", and, for a TLS handshake
// that met a plaintext client, what to do about it.
std::string GrpcLogLine(absl::string_view message);

}  // namespace herald
