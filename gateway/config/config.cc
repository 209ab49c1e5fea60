// Flag definitions and their conversion into a checked Config.
#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, http_listen, "127.0.0.1:8080",
          "Address for HTTP, WebSocket (/ws) and SSE (/sse); port 0 picks a free port.");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "Address for the gRPC Publisher and Subscriber services; port 0 picks a free port.");
ABSL_FLAG(std::string, broker, "memory", "Engine: 'memory' (one process).");
ABSL_FLAG(std::string, node, "", "Node name reported to clients (default: the host name).");
ABSL_FLAG(int, threads, 0, "Event loop threads (0: one per core).");
ABSL_FLAG(int64_t, history_size, 1000, "Events kept per topic (0 turns history off).");
ABSL_FLAG(absl::Duration, history_ttl, absl::Minutes(10), "How long events stay in history.");
ABSL_FLAG(absl::Duration, idempotency_window, absl::Minutes(2),
          "How long an idempotency key is remembered per topic.");
ABSL_FLAG(int64_t, max_queue_bytes, 1 << 20,
          "Outgoing bytes queued per connection before it is closed as a slow consumer.");
ABSL_FLAG(int64_t, max_replay_bytes, 8 << 20,
          "Bytes of history replay a connection may have queued, beyond --max_queue_bytes; a "
          "subscribe whose replay does not fit is answered recovered=false (the client "
          "re-fetches its state) instead of queueing it.");
ABSL_FLAG(int64_t, max_message_bytes, 64 << 10,
          "Largest WebSocket frame, event payload or publish body accepted.");
ABSL_FLAG(int64_t, max_topics_per_connection, 128, "Subscriptions one connection may hold.");
ABSL_FLAG(double, ws_command_rate, 1000,
          "Commands a WebSocket connection may send per second (bursts of twice that); past it "
          "commands get a RESOURCE_EXHAUSTED reply, and a client that keeps flooding is closed "
          "with 4429. 0: no limit.");
ABSL_FLAG(std::vector<std::string>, allowed_origins, {},
          "Comma-separated browser origins allowed on /ws and /sse (empty: any).");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(10),
          "Deadline for draining clients and in-flight publishes on SIGTERM.");
ABSL_FLAG(absl::Duration, ws_ping_interval, absl::Seconds(25),
          "Idle WebSocket connections are pinged this often; a peer silent for two intervals is "
          "closed.");
ABSL_FLAG(absl::Duration, sse_ping_interval, absl::Seconds(15),
          "An idle SSE stream gets a ': ping' comment this often.");
ABSL_FLAG(absl::Duration, sse_retry, absl::Seconds(2), "Reconnect delay sent to SSE clients.");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "Time a client has to send its HTTP request or finish the WebSocket handshake.");

namespace herald {
namespace {

absl::StatusOr<size_t> PositiveSize(const char* name, int64_t value, bool zero_ok = false) {
  if (value < 0 || (value == 0 && !zero_ok)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
  }
  return static_cast<size_t>(value);
}

absl::Status PositiveDuration(const char* name, absl::Duration value) {
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
  }
  return absl::OkStatus();
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "herald";
  return name;
}

}  // namespace

bool Config::OriginAllowed(absl::string_view origin) const {
  if (origin.empty() || allowed_origins.empty()) return true;
  for (const std::string& allowed : allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

absl::Status ParseListenAddress(absl::string_view address, std::string& host, uint16_t& port) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address, "' is not host:port"));
  }
  absl::string_view host_part = address.substr(0, colon);
  if (host_part.size() > 2 && host_part.front() == '[' && host_part.back() == ']') {
    host_part = host_part.substr(1, host_part.size() - 2);
  }
  uint32_t parsed_port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &parsed_port) || parsed_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen address '", address, "' has a bad port"));
  }
  host = std::string(host_part);
  port = static_cast<uint16_t>(parsed_port);
  return absl::OkStatus();
}

absl::StatusOr<Config> ConfigFromFlags() {
  Config config;
  if (absl::Status status =
          ParseListenAddress(absl::GetFlag(FLAGS_http_listen), config.http_host, config.http_port);
      !status.ok()) {
    return status;
  }
  config.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  std::string grpc_host;
  uint16_t grpc_port = 0;
  if (absl::Status status = ParseListenAddress(config.grpc_listen, grpc_host, grpc_port);
      !status.ok()) {
    return status;
  }
  config.broker = absl::GetFlag(FLAGS_broker);
  if (config.broker != "memory") {
    return absl::InvalidArgumentError(
        absl::StrCat("--broker='", config.broker, "' is not supported; use 'memory'"));
  }
  config.node = absl::GetFlag(FLAGS_node);
  if (config.node.empty()) config.node = HostName();

  int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 0 || threads > 64) return absl::InvalidArgumentError("--threads must be 0..64");
  // One loop per core, up to the hub's 64 shards.
  config.threads =
      threads == 0 ? std::clamp(std::thread::hardware_concurrency(), 1u, 64u) : threads;

  absl::StatusOr<size_t> history_size =
      PositiveSize("history_size", absl::GetFlag(FLAGS_history_size), /*zero_ok=*/true);
  absl::StatusOr<size_t> max_queue_bytes =
      PositiveSize("max_queue_bytes", absl::GetFlag(FLAGS_max_queue_bytes));
  absl::StatusOr<size_t> max_replay_bytes =
      PositiveSize("max_replay_bytes", absl::GetFlag(FLAGS_max_replay_bytes), /*zero_ok=*/true);
  absl::StatusOr<size_t> max_message_bytes =
      PositiveSize("max_message_bytes", absl::GetFlag(FLAGS_max_message_bytes));
  absl::StatusOr<size_t> max_topics =
      PositiveSize("max_topics_per_connection", absl::GetFlag(FLAGS_max_topics_per_connection));
  for (const absl::StatusOr<size_t>* size :
       {&history_size, &max_queue_bytes, &max_replay_bytes, &max_message_bytes, &max_topics}) {
    if (!size->ok()) return size->status();
  }
  config.history_size = *history_size;
  config.max_queue_bytes = *max_queue_bytes;
  config.max_replay_bytes = *max_replay_bytes;
  config.max_message_bytes = *max_message_bytes;
  config.max_topics_per_connection = *max_topics;

  config.ws_command_rate = absl::GetFlag(FLAGS_ws_command_rate);
  if (config.ws_command_rate < 0) {
    return absl::InvalidArgumentError("--ws_command_rate must not be negative");
  }
  config.history_ttl = absl::GetFlag(FLAGS_history_ttl);
  config.idempotency_window = absl::GetFlag(FLAGS_idempotency_window);
  config.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  config.ws_ping_interval = absl::GetFlag(FLAGS_ws_ping_interval);
  config.sse_ping_interval = absl::GetFlag(FLAGS_sse_ping_interval);
  config.sse_retry = absl::GetFlag(FLAGS_sse_retry);
  config.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  for (auto [name, value] : {std::pair{"history_ttl", config.history_ttl},
                             {"idempotency_window", config.idempotency_window},
                             {"shutdown_timeout", config.shutdown_timeout},
                             {"ws_ping_interval", config.ws_ping_interval},
                             {"sse_ping_interval", config.sse_ping_interval},
                             {"sse_retry", config.sse_retry},
                             {"handshake_timeout", config.handshake_timeout}}) {
    if (absl::Status status = PositiveDuration(name, value); !status.ok()) return status;
  }
  for (const std::string& origin : absl::GetFlag(FLAGS_allowed_origins)) {
    if (!origin.empty()) config.allowed_origins.push_back(origin);
  }
  return config;
}

}  // namespace herald
