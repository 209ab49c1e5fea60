// Gateway counters and gauges, rendered in the Prometheus text format for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace herald {

enum class TransportKind { kWebSocket = 0, kSse = 1, kGrpc = 2 };
// Why a publish was refused before it reached the engine.
enum class PublishRefusal { kRate = 0, kOverloaded = 1 };

// Every method is thread-safe. Deliveries are counted per shard, so the event loops never write
// to a shared cache line on the hot path.
class Metrics {
 public:
  explicit Metrics(size_t shards);

  void ConnectionOpened(TransportKind transport);
  void ConnectionClosed(TransportKind transport);
  void EventPublished();
  // Called on shard `shard`'s loop.
  void EventsDelivered(size_t shard, TransportKind transport, uint64_t count = 1);
  // A connection the server ended, by close code (1001 shutdown, 4408 slow consumer, ...).
  void ServerDisconnect(uint16_t code);
  void PublishRefused(PublishRefusal reason);
  // A connection closed for a PROXY protocol header missing, malformed or not expected.
  void ProxyHeaderRefused();

  std::string RenderPrometheus() const;

 private:
  static constexpr size_t kTransports = 3;
  struct alignas(64) ShardCounters {
    std::array<std::atomic<uint64_t>, kTransports> delivered{};
  };
  struct DisconnectCounter {
    uint16_t code;
    std::atomic<uint64_t> count{0};
  };

  std::unique_ptr<ShardCounters[]> shards_;
  size_t shard_count_;
  std::array<std::atomic<int64_t>, kTransports> connections_{};
  std::atomic<uint64_t> published_{0};
  std::array<std::atomic<uint64_t>, 2> refused_{};
  std::atomic<uint64_t> proxy_headers_refused_{0};
  // The close codes the server sends.
  std::array<DisconnectCounter, 10> disconnects_{
      {{1001}, {1002}, {1003}, {1009}, {1012}, {4400}, {4401}, {4408}, {4429}, {0}}};
};

}  // namespace herald
