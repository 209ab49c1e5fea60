// gRPC's log lines through Herald's log.
#include "grpc/grpc_log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "log.h"

namespace herald {
namespace {

void WriteGrpcLog(gpr_log_func_args* args) {
  std::string line = GrpcLogLine(args->message);
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      LogError(line);
      break;
    case GPR_LOG_SEVERITY_INFO:
    case GPR_LOG_SEVERITY_DEBUG:
      LogInfo(line);
      break;
  }
}

// protobuf's own lines (a string field that is not UTF-8, ...), which it writes to stderr
// itself otherwise.
void WriteProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                      const std::string& message) {
  std::string text = absl::StrCat("protobuf: ", message, " (", file, ":", line, ")");
  if (level >= google::protobuf::LOGLEVEL_ERROR) {
    LogError(text);
  } else if (level == google::protobuf::LOGLEVEL_WARNING) {
    LogWarning(text);
  } else {
    LogInfo(text);
  }
}

}  // namespace

std::string GrpcLogLine(absl::string_view message) {
  // OpenSSL's words when the first bytes are not a TLS record: an HTTP/2 preface in clear.
  if (absl::StrContains(message, "wrong version number") ||
      absl::StrContains(message, "WRONG_VERSION_NUMBER")) {
    return absl::StrCat(
        "grpc: a client spoke plaintext to the gRPC port, which speaks TLS: give it TLS channel "
        "credentials (grpc.ssl_channel_credentials, credentials.createSsl, "
        "credentials.NewClientTLSFromFile), or run the gateway with --grpc_tls=off on a private "
        "network (",
        message, ")");
  }
  return absl::StrCat("grpc: ", message);
}

void RouteGrpcLogs() {
  gpr_set_log_function(WriteGrpcLog);
  google::protobuf::SetLogHandler(WriteProtobufLog);
}

}  // namespace herald
