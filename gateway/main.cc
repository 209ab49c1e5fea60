// herald: the gateway process.
#include <sys/resource.h>

#include <csignal>

#include "absl/synchronization/mutex.h"
#include "gateway.h"
#include "grpc/grpc_log.h"
#include "log.h"
#include "tool/tool_flags.h"

namespace {

// Every connection is a file descriptor: lift the soft limit (often 1024) to the hard limit.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  herald::ParseToolFlags(
      argc, argv, "herald",
      "Herald real-time gateway: gRPC publishers, WebSocket and SSE subscribers.\n"
      "Usage: herald [--http_listen=127.0.0.1:8080] [--grpc_listen=127.0.0.1:50051] ...",
      "gateway/config/config.cc");
  // Debian's abseil is built with lock-order (deadlock) detection on, which costs every Mutex
  // lock a graph lookup on the publish path. The tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // A client that disappears mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  RaiseFileLimit();
  if (absl::Status log = herald::ConfigureLogFromFlags(); !log.ok()) {
    herald::LogError(log.ToString());
    return 2;
  }
  herald::RouteGrpcLogs();
  absl::StatusOr<herald::Config> config = herald::ConfigFromFlags();
  if (!config.ok()) {
    herald::LogError(config.status().ToString());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<herald::Authenticator>> authenticator =
      herald::Authenticator::Create(config->auth);
  if (!authenticator.ok()) {
    herald::LogError(authenticator.status().ToString());
    return 2;
  }
  herald::Gateway gateway(*std::move(config), *std::move(authenticator));
  if (absl::Status status = gateway.Start(); !status.ok()) {
    herald::LogError(status.ToString());
    return 1;
  }
  gateway.RunUntilSignal();
  return 0;
}
