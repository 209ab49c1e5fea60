// Prometheus rendering of the gateway's metrics.
#include "metrics/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

constexpr std::array<std::string_view, kTransportKinds> kTransportLabels = {"ws", "sse", "grpc"};
constexpr std::array<std::string_view, 3> kWayLabels = {"grpc", "ws", "http"};
constexpr std::array<std::string_view, 6> kOutcomeLabels = {
    "accepted", "invalid", "denied", "limited", "unavailable", "failed"};

size_t Index(TransportKind transport) { return static_cast<size_t>(transport); }

void Add(std::atomic<uint64_t>& counter, uint64_t count = 1) {
  counter.fetch_add(count, std::memory_order_relaxed);
}

uint64_t Read(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace

std::string_view TransportLabel(TransportKind transport) {
  return kTransportLabels[Index(transport)];
}

Metrics::Metrics(size_t loops)
    : loops_(std::make_unique<LoopCounters[]>(loops)), loop_count_(loops) {}

size_t Metrics::CodeSlot(uint16_t code) {
  if (code == 0) return kCloseCodes.size() + 1;
  auto it = std::find(kCloseCodes.begin(), kCloseCodes.end(), code);
  return static_cast<size_t>(it - kCloseCodes.begin());  // kCloseCodes.size(): "other".
}

std::string Metrics::CodeLabel(size_t slot) {
  if (slot < kCloseCodes.size()) return absl::StrCat(kCloseCodes[slot]);
  return slot == kCloseCodes.size() ? "other" : "none";
}

size_t Metrics::OutcomeSlot(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 1;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 2;
    case absl::StatusCode::kResourceExhausted:
      return 3;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 4;
    default:
      return 5;
  }
}

void Metrics::ConnectionOpened(TransportKind transport) {
  connections_[Index(transport)].fetch_add(1, std::memory_order_relaxed);
  Add(connects_[Index(transport)]);
}

void Metrics::ConnectionClosed(TransportKind transport, uint16_t code) {
  connections_[Index(transport)].fetch_sub(1, std::memory_order_relaxed);
  Add(disconnects_[Index(transport)][CodeSlot(code)]);
}

void Metrics::ServerDisconnect(uint16_t code) {
  // A server close always has a code: 0 would only be a mistake, counted as "other".
  Add(server_disconnects_[code == 0 ? kCloseCodes.size() : CodeSlot(code)]);
}

void Metrics::ConnectionRefused(TransportKind transport, unsigned status) {
  if (transport == TransportKind::kGrpc) return;  // gRPC refusals: herald_grpc_calls_total.
  auto it = std::find(kRefusalStatuses.begin(), kRefusalStatuses.end(), status);
  Add(connections_refused_[Index(transport)][static_cast<size_t>(it - kRefusalStatuses.begin())]);
}

void Metrics::Recovery(TransportKind transport, bool recovered) {
  Add(recoveries_[Index(transport)][recovered ? 0 : 1]);
}

void Metrics::EventsDelivered(size_t loop, TransportKind transport, uint64_t count) {
  // Only the loop writes its counter: a plain load and store, no locked instruction on the
  // delivery path (the scrape reads it from another thread, hence the atomic).
  std::atomic<uint64_t>& delivered = loops_[loop].delivered[Index(transport)];
  delivered.store(Read(delivered) + count, std::memory_order_relaxed);
}

void Metrics::Published(PublishWay way, const absl::Status& outcome) {
  Add(published_[static_cast<size_t>(way)][OutcomeSlot(outcome.code())]);
}

void Metrics::PublishRefused(PublishRefusal reason) {
  Add(publishes_refused_[static_cast<size_t>(reason)]);
}

void Metrics::ProxyHeaderRefused() { Add(proxy_headers_refused_); }

void Metrics::TlsHandshakeFailed() { Add(tls_handshake_failures_); }

void Metrics::Reloaded(bool ok) { Add(reloads_[ok ? 0 : 1]); }

void Metrics::SetGrpcMethods(std::vector<std::string> methods) {
  grpc_methods_ = std::move(methods);
  grpc_calls_ =
      std::make_unique<std::array<std::atomic<uint64_t>, kGrpcCodes>[]>(grpc_methods_.size() + 1);
}

size_t Metrics::GrpcMethodIndex(std::string_view method) const {
  auto it = std::find(grpc_methods_.begin(), grpc_methods_.end(), method);
  return static_cast<size_t>(it - grpc_methods_.begin());
}

void Metrics::GrpcCallEnded(size_t method, int code) {
  if (grpc_calls_ == nullptr || method > grpc_methods_.size()) return;
  Add(grpc_calls_[method][code >= 0 && code < static_cast<int>(kGrpcCodes) ? code : 2]);  // 2: UNKNOWN.
}

void Metrics::AddCollector(std::function<void(PrometheusText&)> collector) {
  collectors_.push_back(std::move(collector));
}

std::string Metrics::RenderPrometheus() const {
  PrometheusText text;
  text.Family("herald_build_info", "gauge", "The release this gateway runs (always 1).");
  text.Sample("herald_build_info", {{"version", HERALD_VERSION}}, uint64_t{1});
  RenderConnections(text);
  RenderPublishes(text);
  RenderRefusals(text);
  RenderGrpcCalls(text);
  for (const auto& collector : collectors_) collector(text);
  return text.Take();
}

void Metrics::RenderConnections(PrometheusText& text) const {
  text.Family("herald_connections", "gauge", "Open client connections.");
  for (size_t t = 0; t < kTransportKinds; ++t) {
    text.Sample("herald_connections", {{"transport", kTransportLabels[t]}},
                connections_[t].load(std::memory_order_relaxed));
  }
  text.Family("herald_connects_total", "counter", "Clients connected.");
  for (size_t t = 0; t < kTransportKinds; ++t) {
    text.Sample("herald_connects_total", {{"transport", kTransportLabels[t]}}, Read(connects_[t]));
  }
  text.Family("herald_disconnects_total", "counter",
              "Client connections ended, by close code: the gateway's or the client's (none: "
              "the connection just ended, as SSE and gRPC streams and vanished peers do).");
  for (size_t t = 0; t < kTransportKinds; ++t) {
    for (size_t slot = 0; slot < kCodeSlots; ++slot) {
      uint64_t count = Read(disconnects_[t][slot]);
      // Only codes that happened: the list of possible ones is long.
      if (count == 0) continue;
      text.Sample("herald_disconnects_total",
                  {{"transport", kTransportLabels[t]}, {"code", CodeLabel(slot)}}, count);
    }
  }
  text.Family("herald_server_disconnects_total", "counter",
              "Connections the server ended, by close code.");
  for (size_t slot = 0; slot <= kCloseCodes.size(); ++slot) {
    uint64_t count = Read(server_disconnects_[slot]);
    if (count == 0 && slot != kCloseCodes.size()) continue;
    text.Sample("herald_server_disconnects_total", {{"code", CodeLabel(slot)}}, count);
  }
  text.Family("herald_events_delivered_total", "counter",
              "Events queued to subscribers, replays included.");
  for (size_t t = 0; t < kTransportKinds; ++t) {
    uint64_t delivered = 0;
    for (size_t loop = 0; loop < loop_count_; ++loop) delivered += Read(loops_[loop].delivered[t]);
    text.Sample("herald_events_delivered_total", {{"transport", kTransportLabels[t]}}, delivered);
  }
  text.Family("herald_recoveries_total", "counter",
              "Subscribes that continued from a position: recovered (every missed event "
              "replayed) or not (history no longer held them all; the client starts from now).");
  for (size_t t = 0; t < kTransportKinds; ++t) {
    text.Sample("herald_recoveries_total",
                {{"transport", kTransportLabels[t]}, {"outcome", "recovered"}},
                Read(recoveries_[t][0]));
    text.Sample("herald_recoveries_total",
                {{"transport", kTransportLabels[t]}, {"outcome", "not_recovered"}},
                Read(recoveries_[t][1]));
  }
}

void Metrics::RenderPublishes(PrometheusText& text) const {
  text.Family("herald_events_published_total", "counter",
              "Publishes by the way they came in and how they ended: accepted by the engine, "
              "or refused as invalid, denied, limited (rates and caps), unavailable (overload, "
              "engine down) or failed.");
  for (size_t way = 0; way < kWayLabels.size(); ++way) {
    for (size_t outcome = 0; outcome < kOutcomes; ++outcome) {
      text.Sample("herald_events_published_total",
                  {{"way", kWayLabels[way]}, {"outcome", kOutcomeLabels[outcome]}},
                  Read(published_[way][outcome]));
    }
  }
  text.Family("herald_publishes_refused_total", "counter",
              "Publishes refused before the engine: a credential over --publish_rate, or the "
              "gateway behind (--max_delivery_lag).");
  text.Sample("herald_publishes_refused_total", {{"reason", "rate"}},
              Read(publishes_refused_[0]));
  text.Sample("herald_publishes_refused_total", {{"reason", "overloaded"}},
              Read(publishes_refused_[1]));
}

void Metrics::RenderRefusals(PrometheusText& text) const {
  text.Family("herald_connections_refused_total", "counter",
              "WebSocket and SSE requests refused before they became clients, by HTTP status "
              "(gRPC Subscribe refusals: herald_grpc_calls_total).");
  for (size_t t = 0; t < 2; ++t) {
    for (size_t slot = 0; slot <= kRefusalStatuses.size(); ++slot) {
      std::string status =
          slot < kRefusalStatuses.size() ? absl::StrCat(kRefusalStatuses[slot]) : "other";
      text.Sample("herald_connections_refused_total",
                  {{"transport", kTransportLabels[t]}, {"status", status}},
                  Read(connections_refused_[t][slot]));
    }
  }
  text.Family("herald_proxy_protocol_refusals_total", "counter",
              "Connections closed for a PROXY protocol header missing (--proxy_protocol), "
              "malformed or not expected.");
  text.Sample("herald_proxy_protocol_refusals_total", Read(proxy_headers_refused_));
  text.Family("herald_tls_handshake_failures_total", "counter",
              "TLS handshakes on the HTTP port that failed or timed out.");
  text.Sample("herald_tls_handshake_failures_total", Read(tls_handshake_failures_));
  text.Family("herald_reloads_total", "counter",
              "SIGHUP reloads: succeeded (everything reread) or failed (something kept as it "
              "was; the log says what).");
  text.Sample("herald_reloads_total", {{"outcome", "succeeded"}}, Read(reloads_[0]));
  text.Sample("herald_reloads_total", {{"outcome", "failed"}}, Read(reloads_[1]));
}

void Metrics::RenderGrpcCalls(PrometheusText& text) const {
  text.Family("herald_grpc_calls_total", "counter",
              "gRPC calls ended, by method and status code.");
  if (grpc_calls_ == nullptr) return;
  for (size_t method = 0; method <= grpc_methods_.size(); ++method) {
    for (size_t code = 0; code < kGrpcCodes; ++code) {
      uint64_t count = Read(grpc_calls_[method][code]);
      // Only what happened: every method with every code would be hundreds of lines.
      if (count == 0) continue;
      text.Sample("herald_grpc_calls_total",
                  {{"method", method < grpc_methods_.size() ? grpc_methods_[method] : "other"},
                   {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}},
                  count);
    }
  }
}

}  // namespace herald
