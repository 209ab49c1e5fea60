// Flag definitions and their conversion into a checked Config.
#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "log.h"

ABSL_FLAG(std::string, http_listen, "127.0.0.1:8080",
          "Address for HTTP, WebSocket (/ws) and SSE (/sse); port 0 picks a free port.");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "Address for the gRPC Publisher and Subscriber services; port 0 picks a free port.");
ABSL_FLAG(std::string, metrics_listen, "",
          "Address for /metrics, /healthz and /readyz, served by a thread of their own and then "
          "no longer on --http_listen (empty: they stay on the HTTP port); port 0 picks a free "
          "port.");
ABSL_FLAG(std::string, broker, "memory",
          "Engine: 'memory' (one process), or Redis shared by every node: "
          "redis://[:password@]host[:port][/db] or "
          "redis+cluster://[:password@]host:port[,host:port...].");
ABSL_FLAG(absl::Duration, redis_timeout, absl::Seconds(5),
          "Redis engine: how long connecting or any reply may take before the connection is "
          "dropped and made again (publishes meanwhile fail with UNAVAILABLE).");
ABSL_FLAG(int, redis_wait_replicas, 0,
          "Redis engine: a publish is acknowledged only once this many replicas have it "
          "(WAIT, giving up after half of --redis_timeout; fewer: UNAVAILABLE), so that it "
          "survives a failover. 0: once the master has it.");
ABSL_FLAG(std::string, node, "", "Node name reported to clients (default: the host name).");
ABSL_FLAG(int, threads, 0, "Event loop threads (0: one per core).");
ABSL_FLAG(int64_t, history_size, 1000, "Events kept per topic (0 turns history off).");
ABSL_FLAG(absl::Duration, history_ttl, absl::Minutes(10), "How long events stay in history.");
ABSL_FLAG(std::string, topic_rules_file, "",
          "YAML list of per-topic rules (pattern, history_size, history_ttl, presence, "
          "join_leave, client_publish, max_subscribers), first match wins; topics no rule "
          "matches follow the flags. Reloaded on SIGHUP.");
ABSL_FLAG(absl::Duration, idempotency_window, absl::Minutes(2),
          "How long an idempotency key is remembered per topic.");
ABSL_FLAG(int64_t, max_history_answer_bytes, 64 << 20,
          "Bytes of history answers (/v1/history, gRPC History) being written at once, "
          "gateway-wide; past it a read is refused with 429 (RESOURCE_EXHAUSTED) until earlier "
          "answers are written, so readers that do not read cannot pin memory. 0: no cap.");
ABSL_FLAG(double, history_rate, 50,
          "History and presence reads (/v1/history, /v1/presence, gRPC History) per second per "
          "credential, bursts of twice that, when keys are configured; past it 429 "
          "(RESOURCE_EXHAUSTED). 0: no limit.");
ABSL_FLAG(int64_t, max_idempotency_keys, 500000,
          "Idempotency keys remembered within the window in all (memory engine); past it a "
          "publish with a new key is refused with RESOURCE_EXHAUSTED (one without a key goes). "
          "0: no cap.");
ABSL_FLAG(int64_t, max_idempotency_keys_per_publisher, 100000,
          "Idempotency keys one publisher (credential) holds within the window (memory engine); "
          "past it its publishes with a new key are refused with RESOURCE_EXHAUSTED, so one "
          "publisher cannot take the keys others need. 0: no share.");
ABSL_FLAG(int64_t, max_queue_bytes, 1 << 20,
          "Outgoing bytes queued per connection before it is closed as a slow consumer.");
ABSL_FLAG(int64_t, max_replay_bytes, 8 << 20,
          "Bytes of history replay a connection may have queued, beyond --max_queue_bytes; a "
          "subscribe whose replay does not fit is answered recovered=false (the client "
          "re-fetches its state) instead of queueing it.");
ABSL_FLAG(int64_t, max_message_bytes, 64 << 10,
          "Largest WebSocket frame, event payload or publish body accepted.");
ABSL_FLAG(int64_t, max_topics_per_connection, 128, "Subscriptions one connection may hold.");
ABSL_FLAG(int64_t, max_connections, 50000,
          "WebSocket and SSE connections and gRPC Subscribe streams the gateway holds; past it "
          "/ws and /sse answer 503 and Subscribe UNAVAILABLE. 0: no cap.");
ABSL_FLAG(int64_t, max_connections_per_ip, 1000,
          "WebSocket and SSE connections and gRPC Subscribe streams from one client address; "
          "past it 429 (RESOURCE_EXHAUSTED). Connections from it not yet admitted (see "
          "--max_pending_connections) are capped by it too. Raise it behind a load balancer that "
          "does not keep client addresses. 0: no cap.");
ABSL_FLAG(std::string, trusted_proxies, "",
          "Comma-separated addresses and networks (10.0.0.0/8, ::1) of reverse proxies and load "
          "balancers in front of the gateway. A request from one of them is taken as coming from "
          "the client it names in X-Forwarded-For (or Forwarded: for=), for "
          "--max_connections_per_ip, history and presence shares, and Admin.Connections; from "
          "any other peer those headers are ignored. Empty: none.");
ABSL_FLAG(std::string, log_format, "text",
          "text: `<time> <LEVEL> <message> key=value ...` lines; json: one JSON object per line "
          "({\"time\",\"level\",\"msg\", and the line's fields}), for log shippers and jq.");
ABSL_FLAG(std::string, log_level, "info",
          "The least level logged: debug, info, warning or error. Connects and disconnects are "
          "info.");
ABSL_FLAG(std::string, forwarded_header, "x-forwarded-for",
          "The header --trusted_proxies name their client in: x-forwarded-for or forwarded (RFC "
          "7239 for=). Only that one is read: name the one your proxy writes, since it passes "
          "the other on as the client sent it.");
ABSL_FLAG(bool, proxy_protocol, false,
          "Connections from --trusted_proxies start with a PROXY protocol header (v1 or v2, as "
          "HAProxy and cloud load balancers send it), which names the client; one without it, "
          "or with a malformed one, is closed. A PROXY header from any other peer, or with this "
          "off, closes the connection too. Needs --trusted_proxies.");
ABSL_FLAG(int64_t, max_connections_per_credential, 1000,
          "WebSocket and SSE connections and gRPC Subscribe streams one credential holds (a "
          "token's sub, a publisher key), whatever the address; past it 429 "
          "(RESOURCE_EXHAUSTED). Tokens without sub and open access are not counted. 0: no cap.");
ABSL_FLAG(int64_t, max_pending_connections, 4096,
          "Connections accepted and not yet admitted (TLS handshake, request being read, plain "
          "HTTP requests, idle keep-alive connections until --handshake_timeout closes them); "
          "past it new connections are closed at once, so a flood of them cannot slow the event "
          "loops for everyone. 0: no cap.");
ABSL_FLAG(double, publish_rate, 20000,
          "Events per second one credential (token sub or publisher key) may publish, in bursts "
          "of twice that, on gRPC, HTTP and WebSocket together; past it RESOURCE_EXHAUSTED / "
          "HTTP 429. Applies when keys are configured. 0: no limit.");
ABSL_FLAG(absl::Duration, max_delivery_lag, absl::Seconds(1),
          "When accepted events wait longer than this before an event loop hands them out (the "
          "gateway is behind), publishes are refused with RESOURCE_EXHAUSTED / HTTP 429 until it "
          "catches up, instead of queueing without bound. 0: never refuse.");
ABSL_FLAG(int64_t, max_topics, 200000,
          "Topics the gateway holds (with history or subscribers); a publish or subscribe that "
          "would create one more is refused with RESOURCE_EXHAUSTED. 0: no cap.");
ABSL_FLAG(int64_t, max_topics_per_credential, 1000,
          "Topics one credential (a token's sub) may create, by publishing or subscribing, while "
          "they are held (memory engine); past it RESOURCE_EXHAUSTED (4429). Publisher keys "
          "have no share, and only they may create the last 1/16 of --max_topics. 0: no share.");
ABSL_FLAG(int64_t, max_history_bytes, 512 << 20,
          "Bytes of history kept in all topics together; past it the oldest events of the "
          "whole gateway are dropped first (their clients then recover with recovered=false). "
          "Each event counts three times its WebSocket bytes (its SSE and gRPC forms are built "
          "on first use). 0: no cap.");
ABSL_FLAG(int64_t, max_topic_history_bytes, 64 << 20,
          "Bytes of history one topic keeps (counted as for --max_history_bytes); a topic past "
          "it drops its own oldest events first, so one busy topic cannot push the others' "
          "history out. 0: no share.");
ABSL_FLAG(int64_t, max_history_bytes_per_credential, 64 << 20,
          "Bytes of history the events one credential (a token's sub) published keep in all, "
          "whatever their topics (counted as for --max_history_bytes); past it the topic it "
          "publishes to drops its oldest events, down to none, so one token cannot fill "
          "--max_history_bytes by spreading events over many topics. Publisher keys have no "
          "share. 0: no share.");
ABSL_FLAG(double, ws_command_rate, 1000,
          "Commands a WebSocket connection may send per second (bursts of twice that); past it "
          "commands get a RESOURCE_EXHAUSTED reply, and a client that keeps flooding is closed "
          "with 4429. 0: no limit.");
ABSL_FLAG(std::vector<std::string>, allowed_origins, {},
          "Comma-separated browser origins allowed on /ws, /sse and /v1/publish besides the "
          "gateway's own (allowed when keys are configured), exact or with a subdomain wildcard "
          "(https://*.example.com); empty: any.");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(10),
          "Deadline for draining clients and in-flight publishes on SIGTERM.");
ABSL_FLAG(absl::Duration, drain_window, absl::ZeroDuration(),
          "On SIGTERM, clients are closed spread evenly over this long (each asked to wait up "
          "to 1 s more before reconnecting), so they do not all reconnect elsewhere at once; "
          "0: all at once. At least 1s shorter than --shutdown_timeout.");
ABSL_FLAG(absl::Duration, ws_ping_interval, absl::Seconds(25),
          "Idle WebSocket connections are pinged this often; a peer silent for two intervals is "
          "closed.");
ABSL_FLAG(absl::Duration, sse_ping_interval, absl::Seconds(15),
          "An idle SSE stream gets a ': ping' comment this often.");
ABSL_FLAG(absl::Duration, sse_retry, absl::Seconds(2), "Reconnect delay sent to SSE clients.");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(30),
          "An SSE stream whose write has been pending this long (the peer stopped reading) is "
          "closed; checked every --sse_ping_interval.");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "Time a client has to send its HTTP request or finish the WebSocket handshake.");
ABSL_FLAG(std::string, web_root, "",
          "Directory of static files served over HTTP (the demo app and /herald.js); empty: "
          "<directory of the herald executable>/../share/herald/web; 'none': no static files.");

ABSL_FLAG(std::string, auth, "auto",
          "'auto': check tokens when keys are configured, run open otherwise (with a warning); "
          "'required': refuse to start without keys.");
ABSL_FLAG(std::string, jwt_hs256_secret, "",
          "HS256 secret for browser tokens (prefer --jwt_hs256_secret_file: flags show in ps).");
ABSL_FLAG(std::string, jwt_hs256_secret_file, "", "File holding the HS256 secret.");
ABSL_FLAG(std::string, jwt_public_key_file, "",
          "PEM public keys or certificates (RS256, ES256 P-256), or a JWKS document, for tokens.");
ABSL_FLAG(std::string, jwt_audience, "", "When set, tokens must carry it in 'aud'.");
ABSL_FLAG(std::string, jwt_issuer, "", "When set, tokens must carry it as 'iss'.");
ABSL_FLAG(absl::Duration, jwt_leeway, absl::Seconds(10),
          "Clock skew allowed for a token's exp and nbf.");
ABSL_FLAG(bool, jwt_require_exp, false,
          "Refuse tokens without 'exp' (they would be valid forever). On in production.");
ABSL_FLAG(absl::Duration, jwt_max_lifetime, absl::ZeroDuration(),
          "When set, refuse tokens whose 'exp' is further than this from now (and tokens "
          "without 'exp'): a leaked token stops working within it.");
ABSL_FLAG(std::string, authorizer, "",
          "gRPC address (plaintext) of the application's herald.v1.Authorizer: asked who each "
          "WebSocket, SSE and HTTP API client is and what it may do, unless its credential is "
          "a JWT or publisher key the gateway verifies. Empty: no authorizer.");
ABSL_FLAG(absl::Duration, authorizer_timeout, absl::Seconds(1),
          "Deadline of each Authorizer call; past it the client is refused with 503.");
ABSL_FLAG(std::string, authorizer_headers, "cookie,authorization,origin,user-agent",
          "The request headers forwarded to the Authorizer (comma-separated); no other is.");
ABSL_FLAG(absl::Duration, authorizer_cache_ttl, absl::ZeroDuration(),
          "Reuse an Authorizer grant this long for the same question (same forwarded headers, "
          "query, address, transport and topics), so reconnects need no call; refusals are "
          "never reused. 0: off.");
ABSL_FLAG(int64_t, authorizer_max_calls, 1000,
          "Authorizer calls in flight at most; a client past it is refused with 503.");
ABSL_FLAG(std::string, publisher_keys_file, "",
          "Keys for backends, one per line with the topic patterns it may publish to.");
ABSL_FLAG(std::string, admin_keys_file, "",
          "Keys of the Admin gRPC service, one per line (as --publisher_keys_file); a key "
          "followed by topic patterns administers only those topics. Empty: Admin is off.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain: the HTTP port then speaks only TLS (https://, wss://).");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, grpc_tls_cert_file, "",
          "PEM certificate chain for the gRPC port (default: --tls_cert_file).");
ABSL_FLAG(std::string, grpc_tls_key_file, "",
          "PEM private key for the gRPC port (default: --tls_key_file).");
ABSL_FLAG(std::string, grpc_tls, "auto",
          "TLS on the gRPC port: 'auto' (when a certificate is set, by --grpc_tls_cert_file or "
          "--tls_cert_file), 'on' (refuse to start without one) or 'off' (plaintext gRPC, e.g. "
          "on a private network, even when the HTTP port has TLS).");
ABSL_FLAG(std::string, grpc_client_ca_file, "",
          "PEM CA certificates: gRPC clients must present a certificate it signed (mutual TLS).");

namespace herald {
namespace {

// Upper bounds that keep sizes and their sums far from overflow and memory exhaustion.
constexpr int64_t kMaxMessageBytesLimit = 16 << 20;
constexpr int64_t kMaxQueueBytesLimit = int64_t{1} << 30;
constexpr int64_t kMaxTopicsLimit = 100000;

absl::Status CheckAtMost(const char* name, size_t value, int64_t limit) {
  if (value > static_cast<size_t>(limit)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be at most ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckReadable(const char* name, const std::string& path) {
  if (path.empty() || access(path.c_str(), R_OK) == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--", name, "=", path, ": cannot read it"));
}

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

absl::Status AuthFromFlags(AuthConfig& auth) {
  std::string mode = absl::GetFlag(FLAGS_auth);
  if (mode != "auto" && mode != "required") {
    return absl::InvalidArgumentError("--auth must be 'auto' or 'required'");
  }
  auth.required = mode == "required";
  auth.jwt_hs256_secret = absl::GetFlag(FLAGS_jwt_hs256_secret);
  auth.jwt_hs256_secret_file = absl::GetFlag(FLAGS_jwt_hs256_secret_file);
  auth.jwt_public_key_file = absl::GetFlag(FLAGS_jwt_public_key_file);
  auth.jwt_audience = absl::GetFlag(FLAGS_jwt_audience);
  auth.jwt_issuer = absl::GetFlag(FLAGS_jwt_issuer);
  auth.jwt_leeway = absl::GetFlag(FLAGS_jwt_leeway);
  if (auth.jwt_leeway < absl::ZeroDuration() || auth.jwt_leeway > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--jwt_leeway must be 0s..10m");
  }
  auth.jwt_require_exp = absl::GetFlag(FLAGS_jwt_require_exp);
  auth.jwt_max_lifetime = absl::GetFlag(FLAGS_jwt_max_lifetime);
  if (auth.jwt_max_lifetime < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--jwt_max_lifetime must not be negative");
  }
  auth.publisher_keys_file = absl::GetFlag(FLAGS_publisher_keys_file);
  auth.authorizer = absl::GetFlag(FLAGS_authorizer);
  auth.authorizer_timeout = absl::GetFlag(FLAGS_authorizer_timeout);
  if (auth.authorizer_timeout <= absl::ZeroDuration() ||
      auth.authorizer_timeout > absl::Seconds(60)) {
    return absl::InvalidArgumentError("--authorizer_timeout must be more than 0s, at most 60s");
  }
  auth.authorizer_headers.clear();
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_authorizer_headers), ',', absl::SkipWhitespace())) {
    auth.authorizer_headers.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(name)));
  }
  auth.authorizer_cache_ttl = absl::GetFlag(FLAGS_authorizer_cache_ttl);
  if (auth.authorizer_cache_ttl < absl::ZeroDuration() ||
      auth.authorizer_cache_ttl > absl::Hours(1)) {
    return absl::InvalidArgumentError("--authorizer_cache_ttl must be 0s..1h");
  }
  int64_t max_calls = absl::GetFlag(FLAGS_authorizer_max_calls);
  if (max_calls < 1 || max_calls > 1000000) {
    return absl::InvalidArgumentError("--authorizer_max_calls must be 1..1000000");
  }
  auth.authorizer_max_calls = static_cast<size_t>(max_calls);
  auth.admin_keys_file = absl::GetFlag(FLAGS_admin_keys_file);
  for (auto [name, path] : {std::pair{"jwt_hs256_secret_file", auth.jwt_hs256_secret_file},
                            {"jwt_public_key_file", auth.jwt_public_key_file},
                            {"publisher_keys_file", auth.publisher_keys_file},
                            {"admin_keys_file", auth.admin_keys_file}}) {
    if (absl::Status status = CheckReadable(name, path); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status TlsFromFlags(Config& config) {
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file go together");
  }
  config.grpc_tls_cert_file = absl::GetFlag(FLAGS_grpc_tls_cert_file);
  config.grpc_tls_key_file = absl::GetFlag(FLAGS_grpc_tls_key_file);
  if (config.grpc_tls_cert_file.empty() != config.grpc_tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--grpc_tls_cert_file and --grpc_tls_key_file go together");
  }
  std::string grpc_tls = absl::GetFlag(FLAGS_grpc_tls);
  if (grpc_tls != "auto" && grpc_tls != "on" && grpc_tls != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_tls must be auto, on or off, not '", grpc_tls, "'"));
  }
  if (grpc_tls == "off") {
    if (!config.grpc_tls_cert_file.empty()) {
      return absl::InvalidArgumentError("--grpc_tls=off and --grpc_tls_cert_file contradict");
    }
  } else if (config.grpc_tls_cert_file.empty()) {
    config.grpc_tls_cert_file = config.tls_cert_file;
    config.grpc_tls_key_file = config.tls_key_file;
  }
  if (grpc_tls == "on" && config.grpc_tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--grpc_tls=on needs a certificate: --grpc_tls_cert_file or --tls_cert_file");
  }
  config.grpc_client_ca_file = absl::GetFlag(FLAGS_grpc_client_ca_file);
  if (!config.grpc_client_ca_file.empty() && config.grpc_tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--grpc_client_ca_file needs TLS on the gRPC port (--grpc_tls_cert_file or "
        "--tls_cert_file)");
  }
  for (auto [name, path] : {std::pair{"tls_cert_file", config.tls_cert_file},
                            {"tls_key_file", config.tls_key_file},
                            {"grpc_tls_cert_file", config.grpc_tls_cert_file},
                            {"grpc_tls_key_file", config.grpc_tls_key_file},
                            {"grpc_client_ca_file", config.grpc_client_ca_file}}) {
    if (absl::Status status = CheckReadable(name, path); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::string Masked(const std::string& secret) { return secret.empty() ? "" : "<hidden>"; }

// --web_root, with the default next to the executable: build/bin/herald serves
// build/share/herald/web, /usr/local/bin/herald serves /usr/local/share/herald/web.
absl::StatusOr<std::string> WebRootFromFlag() {
  std::string web_root = absl::GetFlag(FLAGS_web_root);
  if (web_root == "none") return std::string();
  if (!web_root.empty()) return web_root;
  std::error_code error;
  std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("the herald executable's directory is unknown (", error.message(),
                     "): set --web_root to a directory, or to 'none'"));
  }
  return (executable.parent_path() / "../share/herald/web").lexically_normal().string();
}

}  // namespace

std::string Config::Describe() const {
  std::string origins = allowed_origins.empty() ? "*" : absl::StrJoin(allowed_origins, ",");
  return absl::StrCat(
      "config: broker=", redis ? redis->Describe() : broker, " threads=", threads, " node=", node,
      " history_size=", history_size, " history_ttl=", absl::FormatDuration(history_ttl),
      " topic_rules_file=", topic_rules_file,
      " max_queue_bytes=", max_queue_bytes, " max_message_bytes=", max_message_bytes,
      " max_topics_per_connection=", max_topics_per_connection,
      " max_connections=", max_connections, " max_connections_per_ip=", max_connections_per_ip,
      " trusted_proxies=", trusted_proxies.text(),
      " forwarded_header=", ForwardingHeaderName(forwarded_header),
      " proxy_protocol=", proxy_protocol,
      " max_connections_per_credential=", max_connections_per_credential,
      " max_pending_connections=", max_pending_connections,
      " publish_rate=", publish_rate,
      " max_delivery_lag=", absl::FormatDuration(max_delivery_lag), " max_topics=", max_topics,
      " max_history_bytes=", max_history_bytes,
      " max_topic_history_bytes=", max_topic_history_bytes,
      " max_history_bytes_per_credential=", max_history_bytes_per_credential,
      " max_topics_per_credential=", max_topics_per_credential,
      " max_history_answer_bytes=", max_history_answer_bytes,
      " history_rate=", history_rate,
      " allowed_origins=", origins, " auth=", auth.required ? "required" : "auto",
      " jwt_hs256_secret=", Masked(auth.jwt_hs256_secret),
      " jwt_hs256_secret_file=", auth.jwt_hs256_secret_file,
      " jwt_public_key_file=", auth.jwt_public_key_file, " jwt_audience=", auth.jwt_audience,
      " jwt_require_exp=", auth.jwt_require_exp ? "true" : "false",
      " jwt_max_lifetime=", absl::FormatDuration(auth.jwt_max_lifetime),
      " publisher_keys_file=", auth.publisher_keys_file,
      " admin_keys_file=", auth.admin_keys_file, " tls_cert_file=", tls_cert_file,
      " grpc_tls=", grpc_tls() ? "on" : "off", " grpc_tls_cert_file=", grpc_tls_cert_file, " grpc_client_ca_file=", grpc_client_ca_file,
      " web_root=", web_root.empty() ? "none" : web_root);
}

absl::Status ValidateOriginPattern(absl::string_view pattern) {
  if (pattern == "*") return absl::OkStatus();
  auto refused = [pattern](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--allowed_origins: '", pattern, "' ", why,
        "; write an origin as a browser sends it, https://app.example.com, or a subdomain "
        "pattern, https://*.example.com (or * for any origin)"));
  };
  size_t scheme_end = pattern.find("://");
  if (scheme_end == absl::string_view::npos || scheme_end == 0) {
    return refused("names no scheme");
  }
  for (char c : pattern.substr(0, scheme_end)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return refused("has a scheme with a character schemes cannot have");
    }
  }
  absl::string_view host = pattern.substr(scheme_end + 3);
  absl::ConsumePrefix(&host, "*.");
  if (host.empty()) return refused("names no host");
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != ':' &&
        c != '[' && c != ']') {
      return refused("is not an origin (scheme://host[:port], no path, no user, no other *)");
    }
  }
  return absl::OkStatus();
}

bool OriginMatches(absl::string_view pattern, absl::string_view origin) {
  if (pattern == "*" || absl::EqualsIgnoreCase(pattern, origin)) return true;
  // `https://*.example.com`: one or more subdomain labels of example.com, scheme https.
  size_t star = pattern.find('*');
  if (star == absl::string_view::npos) return false;
  absl::string_view prefix = pattern.substr(0, star);
  absl::string_view suffix = pattern.substr(star + 1);
  if (!absl::StartsWith(suffix, ".") || suffix.find('*') != absl::string_view::npos) return false;
  absl::string_view subject = origin;
  if (!absl::EndsWith(prefix, "://")) return false;
  if (subject.size() <= prefix.size() + suffix.size() ||
      !absl::StartsWithIgnoreCase(subject, prefix) || !absl::EndsWithIgnoreCase(subject, suffix)) {
    return false;
  }
  absl::string_view labels =
      subject.substr(prefix.size(), subject.size() - prefix.size() - suffix.size());
  for (char c : labels) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return false;
    }
  }
  return labels.front() != '.' && labels.back() != '.';
}

bool Config::OriginTrusted(absl::string_view origin) const {
  for (const std::string& allowed : allowed_origins) {
    if (allowed != "*" && OriginMatches(allowed, origin)) return true;
  }
  return false;
}

bool Config::OriginAllowed(absl::string_view origin) const {
  if (origin.empty() || allowed_origins.empty()) return true;
  for (const std::string& allowed : allowed_origins) {
    if (OriginMatches(allowed, origin)) return true;
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

absl::Status ConfigureLogFromFlags() {
  std::string format = absl::AsciiStrToLower(absl::GetFlag(FLAGS_log_format));
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format must be text or json, not '", format, "'"));
  }
  std::string level_name = absl::AsciiStrToLower(absl::GetFlag(FLAGS_log_level));
  static const std::map<std::string, LogLevel> kLevels = {{"debug", LogLevel::kDebug},
                                                          {"info", LogLevel::kInfo},
                                                          {"warning", LogLevel::kWarning},
                                                          {"error", LogLevel::kError}};
  auto level = kLevels.find(level_name);
  if (level == kLevels.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level must be debug, info, warning or error, not '", level_name, "'"));
  }
  ConfigureLog(format == "json" ? LogFormat::kJson : LogFormat::kText, level->second);
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
  if (std::string metrics = absl::GetFlag(FLAGS_metrics_listen); !metrics.empty()) {
    std::string host;
    uint16_t port = 0;
    if (absl::Status status = ParseListenAddress(metrics, host, port); !status.ok()) {
      return status;
    }
    config.metrics_listen = {{host, port}};
  }
  config.broker = absl::GetFlag(FLAGS_broker);
  if (config.broker != "memory") {
    absl::StatusOr<RedisAddress> redis = ParseRedisAddress(config.broker);
    if (!redis.ok()) return redis.status();
    config.redis = *std::move(redis);
  }
  config.redis_timeout = absl::GetFlag(FLAGS_redis_timeout);
  config.redis_wait_replicas = absl::GetFlag(FLAGS_redis_wait_replicas);
  if (config.redis_wait_replicas < 0 || config.redis_wait_replicas > 100) {
    return absl::InvalidArgumentError("--redis_wait_replicas must be 0..100");
  }
  if (config.redis_wait_replicas > 0 && !config.redis) {
    return absl::InvalidArgumentError("--redis_wait_replicas needs --broker=redis://...");
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

  for (auto [name, value, into] :
       {std::tuple{"max_connections", absl::GetFlag(FLAGS_max_connections), &config.max_connections},
        {"max_connections_per_ip", absl::GetFlag(FLAGS_max_connections_per_ip),
         &config.max_connections_per_ip},
        {"max_connections_per_credential", absl::GetFlag(FLAGS_max_connections_per_credential),
         &config.max_connections_per_credential},
        {"max_pending_connections", absl::GetFlag(FLAGS_max_pending_connections),
         &config.max_pending_connections},
        {"max_topics", absl::GetFlag(FLAGS_max_topics), &config.max_topics},
        {"max_topics_per_credential", absl::GetFlag(FLAGS_max_topics_per_credential),
         &config.max_topics_per_credential},
        {"max_history_bytes", absl::GetFlag(FLAGS_max_history_bytes), &config.max_history_bytes},
        {"max_topic_history_bytes", absl::GetFlag(FLAGS_max_topic_history_bytes),
         &config.max_topic_history_bytes},
        {"max_history_bytes_per_credential", absl::GetFlag(FLAGS_max_history_bytes_per_credential),
         &config.max_history_bytes_per_credential},
        {"max_history_answer_bytes", absl::GetFlag(FLAGS_max_history_answer_bytes),
         &config.max_history_answer_bytes},
        {"max_idempotency_keys", absl::GetFlag(FLAGS_max_idempotency_keys),
         &config.max_idempotency_keys},
        {"max_idempotency_keys_per_publisher",
         absl::GetFlag(FLAGS_max_idempotency_keys_per_publisher),
         &config.max_idempotency_keys_per_publisher}}) {
    absl::StatusOr<size_t> size = PositiveSize(name, value, /*zero_ok=*/true);
    if (!size.ok()) return size.status();
    *into = *size;
  }
  config.history_rate = absl::GetFlag(FLAGS_history_rate);
  if (config.history_rate < 0) {
    return absl::InvalidArgumentError("--history_rate must not be negative");
  }
  config.publish_rate = absl::GetFlag(FLAGS_publish_rate);
  if (config.publish_rate < 0) {
    return absl::InvalidArgumentError("--publish_rate must not be negative");
  }
  config.max_delivery_lag = absl::GetFlag(FLAGS_max_delivery_lag);
  if (config.max_delivery_lag < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--max_delivery_lag must not be negative");
  }
  config.ws_command_rate = absl::GetFlag(FLAGS_ws_command_rate);
  if (config.ws_command_rate < 0) {
    return absl::InvalidArgumentError("--ws_command_rate must not be negative");
  }
  config.history_ttl = absl::GetFlag(FLAGS_history_ttl);
  config.topic_rules_file = absl::GetFlag(FLAGS_topic_rules_file);
  config.idempotency_window = absl::GetFlag(FLAGS_idempotency_window);
  config.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  config.ws_ping_interval = absl::GetFlag(FLAGS_ws_ping_interval);
  config.sse_ping_interval = absl::GetFlag(FLAGS_sse_ping_interval);
  config.sse_retry = absl::GetFlag(FLAGS_sse_retry);
  config.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  config.write_timeout = absl::GetFlag(FLAGS_write_timeout);
  for (auto [name, value] : {std::pair{"history_ttl", config.history_ttl},
                             {"idempotency_window", config.idempotency_window},
                             {"shutdown_timeout", config.shutdown_timeout},
                             {"ws_ping_interval", config.ws_ping_interval},
                             {"sse_ping_interval", config.sse_ping_interval},
                             {"sse_retry", config.sse_retry},
                             {"handshake_timeout", config.handshake_timeout},
                             {"redis_timeout", config.redis_timeout},
                             {"write_timeout", config.write_timeout}}) {
    if (absl::Status status = PositiveDuration(name, value); !status.ok()) return status;
  }
  config.drain_window = absl::GetFlag(FLAGS_drain_window);
  // The clients closed last still need time to read what is left and leave.
  if (config.drain_window < absl::ZeroDuration() ||
      (config.drain_window > absl::ZeroDuration() &&
       config.drain_window + absl::Seconds(1) > config.shutdown_timeout)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--drain_window must be at least 0 and leave at least 1s of --shutdown_timeout (",
        absl::FormatDuration(config.shutdown_timeout),
        "): the clients closed last still need time to leave"));
  }
  for (auto [name, value, limit] :
       {std::tuple{"max_message_bytes", config.max_message_bytes, kMaxMessageBytesLimit},
        {"max_queue_bytes", config.max_queue_bytes, kMaxQueueBytesLimit},
        {"max_replay_bytes", config.max_replay_bytes, kMaxQueueBytesLimit},
        {"max_topics_per_connection", config.max_topics_per_connection, kMaxTopicsLimit},
        {"history_size", config.history_size, static_cast<int64_t>(kMaxHistorySize)}}) {
    if (absl::Status status = CheckAtMost(name, value, limit); !status.ok()) return status;
  }
  for (const std::string& origin : absl::GetFlag(FLAGS_allowed_origins)) {
    if (origin.empty()) continue;
    if (absl::Status status = ValidateOriginPattern(origin); !status.ok()) return status;
    config.allowed_origins.push_back(origin);
  }
  absl::StatusOr<TrustedProxies> trusted_proxies =
      TrustedProxies::Parse(absl::GetFlag(FLAGS_trusted_proxies));
  if (!trusted_proxies.ok()) return trusted_proxies.status();
  config.trusted_proxies = *std::move(trusted_proxies);
  std::string forwarded_header = absl::AsciiStrToLower(absl::GetFlag(FLAGS_forwarded_header));
  if (forwarded_header == "x-forwarded-for") {
    config.forwarded_header = ForwardingHeader::kXForwardedFor;
  } else if (forwarded_header == "forwarded") {
    config.forwarded_header = ForwardingHeader::kForwarded;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--forwarded_header must be x-forwarded-for or forwarded, not '", forwarded_header, "'"));
  }
  config.proxy_protocol = absl::GetFlag(FLAGS_proxy_protocol);
  if (config.proxy_protocol && config.trusted_proxies.empty()) {
    return absl::InvalidArgumentError(
        "--proxy_protocol needs --trusted_proxies: the addresses of the load balancers that send "
        "the header");
  }
  if (absl::Status status = AuthFromFlags(config.auth); !status.ok()) return status;
  if (absl::Status status = TlsFromFlags(config); !status.ok()) return status;
  absl::StatusOr<std::string> web_root = WebRootFromFlag();
  if (!web_root.ok()) return web_root.status();
  config.web_root = *std::move(web_root);
  return config;
}

}  // namespace herald
