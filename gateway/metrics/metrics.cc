// Prometheus rendering of the gateway's metrics.
#include "metrics/metrics.h"

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

constexpr const char* kTransportNames[] = {"ws", "sse", "grpc"};

size_t Index(TransportKind transport) { return static_cast<size_t>(transport); }

}  // namespace

Metrics::Metrics(size_t shards)
    : shards_(std::make_unique<ShardCounters[]>(shards)), shard_count_(shards) {}

void Metrics::ConnectionOpened(TransportKind transport) {
  connections_[Index(transport)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ConnectionClosed(TransportKind transport) {
  connections_[Index(transport)].fetch_sub(1, std::memory_order_relaxed);
}

void Metrics::EventPublished() { published_.fetch_add(1, std::memory_order_relaxed); }

void Metrics::EventsDelivered(size_t shard, TransportKind transport, uint64_t count) {
  // Only the shard's loop writes its counter: a plain load and store, no locked instruction on
  // the delivery path (the scrape reads it from another thread, hence the atomic).
  std::atomic<uint64_t>& delivered = shards_[shard].delivered[Index(transport)];
  delivered.store(delivered.load(std::memory_order_relaxed) + count, std::memory_order_relaxed);
}

void Metrics::ServerDisconnect(uint16_t code) {
  for (DisconnectCounter& counter : disconnects_) {
    if (counter.code == code || counter.code == 0) {
      counter.count.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

void Metrics::PublishRefused(PublishRefusal reason) {
  refused_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ProxyHeaderRefused() {
  proxy_headers_refused_.fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::RenderPrometheus() const {
  std::string text;
  absl::StrAppend(&text,
                  "# HELP herald_build_info The release this gateway runs (always 1).\n"
                  "# TYPE herald_build_info gauge\n"
                  "herald_build_info{version=\"", HERALD_VERSION, "\"} 1\n");
  absl::StrAppend(&text,
                  "# HELP herald_connections Open client connections.\n"
                  "# TYPE herald_connections gauge\n");
  for (size_t t = 0; t < kTransports; ++t) {
    absl::StrAppend(&text, "herald_connections{transport=\"", kTransportNames[t], "\"} ",
                    connections_[t].load(std::memory_order_relaxed), "\n");
  }
  absl::StrAppend(&text,
                  "# HELP herald_events_published_total Events accepted by the engine.\n"
                  "# TYPE herald_events_published_total counter\n"
                  "herald_events_published_total ",
                  published_.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(&text,
                  "# HELP herald_events_delivered_total Events queued to subscribers, replays "
                  "included.\n"
                  "# TYPE herald_events_delivered_total counter\n");
  for (size_t t = 0; t < kTransports; ++t) {
    uint64_t delivered = 0;
    for (size_t s = 0; s < shard_count_; ++s) {
      delivered += shards_[s].delivered[t].load(std::memory_order_relaxed);
    }
    absl::StrAppend(&text, "herald_events_delivered_total{transport=\"", kTransportNames[t],
                    "\"} ", delivered, "\n");
  }
  absl::StrAppend(&text,
                  "# HELP herald_publishes_refused_total Publishes refused before the engine: "
                  "a credential over --publish_rate, or the gateway behind (--max_delivery_lag).\n"
                  "# TYPE herald_publishes_refused_total counter\n"
                  "herald_publishes_refused_total{reason=\"rate\"} ",
                  refused_[0].load(std::memory_order_relaxed), "\n",
                  "herald_publishes_refused_total{reason=\"overloaded\"} ",
                  refused_[1].load(std::memory_order_relaxed), "\n");
  absl::StrAppend(&text,
                  "# HELP herald_proxy_protocol_refusals_total Connections closed for a PROXY "
                  "protocol header missing (--proxy_protocol), malformed or not expected.\n"
                  "# TYPE herald_proxy_protocol_refusals_total counter\n"
                  "herald_proxy_protocol_refusals_total ",
                  proxy_headers_refused_.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(&text,
                  "# HELP herald_server_disconnects_total Connections the server ended, by "
                  "close code.\n"
                  "# TYPE herald_server_disconnects_total counter\n");
  for (const DisconnectCounter& counter : disconnects_) {
    absl::StrAppend(&text, "herald_server_disconnects_total{code=\"",
                    counter.code == 0 ? std::string("other") : absl::StrCat(counter.code),
                    "\"} ", counter.count.load(std::memory_order_relaxed), "\n");
  }
  return text;
}

}  // namespace herald
