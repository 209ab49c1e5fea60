// Gateway configuration: the values of the command-line flags, checked once at start.
#pragma once

#include "absl/strings/string_view.h"
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/auth_config.h"
#include "edge/client_address.h"
#include "engine/redis_address.h"
#include "topic/topic_rules.h"

namespace herald {

struct Config {
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080;
  std::string grpc_listen = "127.0.0.1:50051";
  // --metrics_listen: where /metrics, /healthz and /readyz are served instead of the HTTP port.
  struct ListenAddress {
    std::string host;
    uint16_t port = 0;
  };
  std::optional<ListenAddress> metrics_listen;
  std::string broker = "memory";
  // Set when --broker is a Redis address.
  std::optional<RedisAddress> redis;
  absl::Duration redis_timeout = absl::Seconds(5);
  int redis_wait_replicas = 0;  // Replicas a publish must reach before it is acknowledged.
  std::string node;  // Name reported to clients; the host name by default.
  int threads = 1;
  size_t history_size = 1000;
  absl::Duration history_ttl = absl::Minutes(10);
  std::string topic_rules_file;  // Empty: every topic follows the flags above.
  absl::Duration idempotency_window = absl::Minutes(2);
  size_t max_queue_bytes = 1 << 20;
  // Replayed bytes a connection may have queued beyond max_queue_bytes; a subscribe whose
  // replay does not fit is answered recovered=false.
  size_t max_replay_bytes = 8 << 20;
  size_t max_message_bytes = 64 << 10;
  size_t max_topics_per_connection = 128;
  size_t max_connections = 50000;        // WebSocket + SSE connections in all; 0: no cap.
  size_t max_connections_per_ip = 1000;  // From one client address; 0: no cap.
  TrustedProxies trusted_proxies;        // Peers whose X-Forwarded-For names the client.
  ForwardingHeader forwarded_header = ForwardingHeader::kXForwardedFor;  // Read from them.
  bool proxy_protocol = false;           // Trusted proxies send a PROXY header first.
  size_t max_connections_per_credential = 1000;  // Held by one credential; 0: no cap.
  // Accepted, not yet admitted connections (handshakes, requests); 0: no cap.
  size_t max_pending_connections = 4096;
  double publish_rate = 20000;           // Events per second per credential; 0: no limit.
  // Publishes are refused while accepted events wait longer than this for delivery; 0: never.
  absl::Duration max_delivery_lag = absl::Seconds(1);
  size_t max_topics = 200000;            // Topics the engine holds; 0: no cap.
  size_t max_topics_per_credential = 1000;  // Created by one token's `sub`; 0: no share.
  size_t max_history_bytes = 512 << 20;  // History of all topics; the oldest goes first.
  size_t max_topic_history_bytes = 64 << 20;  // One topic's share of it; 0: none.
  size_t max_history_bytes_per_credential = 64 << 20;  // Events one `sub` published; 0: none.
  size_t max_history_answer_bytes = 64 << 20;  // History answers being written at once.
  double history_rate = 50;  // History reads per second per credential; 0: no limit.
  size_t max_idempotency_keys = 500000;                // Within the window, in all.
  size_t max_idempotency_keys_per_publisher = 100000;  // One credential's share; 0: none.
  double ws_command_rate = 1000;  // Commands per second per WebSocket connection; 0: no limit.
  std::vector<std::string> allowed_origins;  // Empty: any origin.
  absl::Duration shutdown_timeout = absl::Seconds(10);
  // --drain_window: the closes of a SIGTERM drain are spread over this long (0: all at once).
  absl::Duration drain_window = absl::ZeroDuration();
  absl::Duration ws_ping_interval = absl::Seconds(25);
  absl::Duration sse_ping_interval = absl::Seconds(15);
  absl::Duration sse_retry = absl::Seconds(2);
  absl::Duration handshake_timeout = absl::Seconds(10);
  // An SSE write pending this long means the peer stopped reading: it is cut (checked at each
  // ping interval).
  absl::Duration write_timeout = absl::Seconds(30);
  AuthConfig auth;
  // TLS on the HTTP port when both are set (PEM files; SIGHUP reloads them).
  std::string tls_cert_file;
  std::string tls_key_file;
  // TLS on the gRPC port (by default the HTTP port's files), and the CA that client
  // certificates must chain to (mutual TLS) when set.
  std::string grpc_tls_cert_file;
  std::string grpc_tls_key_file;
  std::string grpc_client_ca_file;
  // Directory of the static files served over HTTP (the demo app, /herald.js); empty: none.
  std::string web_root;

  bool http_tls() const { return !tls_cert_file.empty(); }
  bool grpc_tls() const { return !grpc_tls_cert_file.empty(); }
  // The effective configuration on one line, secrets masked.
  std::string Describe() const;
  // The rule of topics no --topic_rules_file rule matches: the flags.
  TopicRule DefaultTopicRule() const {
    TopicRule rule;
    rule.history_size = history_size;
    rule.history_ttl = history_ttl;
    return rule;
  }

  // True when `origin` may open a WebSocket or SSE stream or publish over HTTP. Requests without Origin (non-browser
  // clients) are always allowed.
  bool OriginAllowed(absl::string_view origin) const;
  // True when `origin` is allowed by name or pattern in --allowed_origins (not merely because
  // any origin is): only such pages get CORS with credentials, and their cookie is honoured.
  bool OriginTrusted(absl::string_view origin) const;
};

// True when browser origin `origin` (scheme://host[:port]) matches `pattern`: `*`, an exact
// origin, or a wildcard of subdomains of one scheme (`https://*.example.com`); a pattern
// without a scheme matches nothing (ValidateOriginPattern refuses it at start).
bool OriginMatches(absl::string_view pattern, absl::string_view origin);
// OK when `pattern` is `*`, an origin (scheme://host[:port]) or a subdomain pattern
// (scheme://*.example.com[:port]); a pattern without a scheme would allow every scheme.
absl::Status ValidateOriginPattern(absl::string_view pattern);

// Reads and checks the flags after absl::ParseCommandLine.
absl::StatusOr<Config> ConfigFromFlags();
// Sets the log's format and level from --log_format and --log_level (first thing at start).
absl::Status ConfigureLogFromFlags();

// Splits "host:port" (IPv6 as "[::1]:port"); port 0 means "pick a free port".
absl::Status ParseListenAddress(absl::string_view address, std::string& host, uint16_t& port);

}  // namespace herald
