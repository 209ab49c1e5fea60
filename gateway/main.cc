// herald: the gateway process.
#include <csignal>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "gateway.h"
#include "log.h"

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Herald real-time gateway: gRPC publishers, WebSocket and SSE subscribers.\n"
      "Usage: herald [--http_listen=127.0.0.1:8080] [--grpc_listen=127.0.0.1:50051] ...");
  absl::ParseCommandLine(argc, argv);
  // A client that disappears mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<herald::Config> config = herald::ConfigFromFlags();
  if (!config.ok()) {
    herald::LogError(config.status().ToString());
    return 2;
  }
  herald::Gateway gateway(*std::move(config));
  if (absl::Status status = gateway.Start(); !status.ok()) {
    herald::LogError(status.ToString());
    return 1;
  }
  gateway.RunUntilSignal();
  return 0;
}
