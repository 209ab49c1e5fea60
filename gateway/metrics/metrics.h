// The gateway's counters and gauges, rendered in the Prometheus text format for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "metrics/prometheus_text.h"

namespace herald {

enum class TransportKind { kWebSocket = 0, kSse = 1, kGrpc = 2 };
inline constexpr size_t kTransportKinds = 3;
// The transport's name in metrics and logs: "ws", "sse", "grpc".
std::string_view TransportLabel(TransportKind transport);

// The way a publish came in.
enum class PublishWay {
  kGrpc = 0,       // Publish, PublishBatch, PublishStream: backends.
  kWebSocket = 1,  // The WebSocket publish command: a browser.
  kHttp = 2,       // POST /v1/publish: a browser, or a backend with a publisher key.
};

// Why a publish was refused before it reached the engine.
enum class PublishRefusal { kRate = 0, kOverloaded = 1 };

// Every method is thread-safe. What happens per delivery is counted per loop, by that loop
// alone (a load and a store, no locked instruction) and summed at scrape time; everything else
// (connects, publishes, refusals) is a relaxed atomic.
class Metrics {
 public:
  explicit Metrics(size_t loops);

  // A client connected (counted in herald_connections and herald_connects_total).
  void ConnectionOpened(TransportKind transport);
  // A client's connection ended with close `code` (the gateway's or the client's; 0: none, the
  // connection just ended).
  void ConnectionClosed(TransportKind transport, uint16_t code);
  // A connection the server ended, by close code (1001 shutdown, 4408 slow consumer, ...).
  void ServerDisconnect(uint16_t code);
  // A WebSocket or SSE request refused with HTTP `status` before it became a client.
  void ConnectionRefused(TransportKind transport, unsigned status);
  // A subscribe that asked to continue from a position: whether history still held the rest.
  void Recovery(TransportKind transport, bool recovered);
  // Called on loop `loop` only.
  void EventsDelivered(size_t loop, TransportKind transport, uint64_t count = 1);
  // How a publish ended.
  void Published(PublishWay way, const absl::Status& outcome);
  void PublishRefused(PublishRefusal reason);
  // A connection closed for a PROXY protocol header missing, malformed or not expected.
  void ProxyHeaderRefused();
  void TlsHandshakeFailed();
  // A SIGHUP reload: whether everything it reads was taken.
  void Reloaded(bool ok);
  // The gRPC methods counted by name ("/herald.v1.Publisher/Publish"); any other a client
  // calls counts as "other", so a client cannot add series. Set once, before the server starts.
  void SetGrpcMethods(std::vector<std::string> methods);
  // Where `method` is counted (GrpcCallEnded's `method`): looked up once per call.
  size_t GrpcMethodIndex(std::string_view method) const;
  // A gRPC call ended with status `code`.
  void GrpcCallEnded(size_t method, int code);

  // What the rest of the gateway adds to each scrape (the hub's, the engine's, the process's
  // series): called in the order added. Add them all before the first scrape.
  void AddCollector(std::function<void(PrometheusText&)> collector);

  std::string RenderPrometheus() const;

 private:
  struct alignas(64) LoopCounters {
    std::array<std::atomic<uint64_t>, kTransportKinds> delivered{};
  };
  // The close codes counted by name; others count as "other".
  static constexpr std::array<uint16_t, 17> kCloseCodes = {
      1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009,
      1011, 1012, 1013, 4400, 4401, 4403, 4408, 4429};
  static constexpr size_t kCodeSlots = kCloseCodes.size() + 2;  // + "other", + "none".
  static size_t CodeSlot(uint16_t code);
  static std::string CodeLabel(size_t slot);
  // The refusal statuses counted by name; others count as "other".
  static constexpr std::array<unsigned, 7> kRefusalStatuses = {400, 401, 403, 404, 413, 429, 503};
  static constexpr size_t kOutcomes = 6;  // See OutcomeSlot.
  static size_t OutcomeSlot(absl::StatusCode code);

  void RenderConnections(PrometheusText& text) const;
  void RenderPublishes(PrometheusText& text) const;
  void RenderRefusals(PrometheusText& text) const;
  void RenderGrpcCalls(PrometheusText& text) const;

  std::unique_ptr<LoopCounters[]> loops_;
  size_t loop_count_;
  std::array<std::atomic<int64_t>, kTransportKinds> connections_{};
  std::array<std::atomic<uint64_t>, kTransportKinds> connects_{};
  std::array<std::array<std::atomic<uint64_t>, kCodeSlots>, kTransportKinds> disconnects_{};
  std::array<std::atomic<uint64_t>, kCodeSlots> server_disconnects_{};
  std::array<std::array<std::atomic<uint64_t>, kRefusalStatuses.size() + 1>, 2>
      connections_refused_{};  // WebSocket, SSE.
  std::array<std::array<std::atomic<uint64_t>, 2>, kTransportKinds> recoveries_{};
  std::array<std::array<std::atomic<uint64_t>, kOutcomes>, 3> published_{};
  std::array<std::atomic<uint64_t>, 2> publishes_refused_{};
  std::atomic<uint64_t> proxy_headers_refused_{0};
  std::atomic<uint64_t> tls_handshake_failures_{0};
  std::array<std::atomic<uint64_t>, 2> reloads_{};  // Succeeded, failed.
  static constexpr size_t kGrpcCodes = 17;  // OK to UNAUTHENTICATED.
  std::vector<std::string> grpc_methods_;
  // grpc_methods_.size() + 1 rows ("other" last), one counter per status code.
  std::unique_ptr<std::array<std::atomic<uint64_t>, kGrpcCodes>[]> grpc_calls_;
  std::vector<std::function<void(PrometheusText&)>> collectors_;
};

}  // namespace herald
