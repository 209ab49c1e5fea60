// GET /v1/presence: who follows a topic whose rule says `presence: true`, on every node, as JSON,
// for a page that shows who is in a room (then keeps it current with herald.join / herald.leave).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "admin/cluster_admin.h"
#include "edge/http_publish.h"

namespace herald {

class PresenceReads {
 public:
  // Presence answers being gathered at once on this node (each asks every node, which visits
  // all its clients); past it a read is refused with 429 until one finishes.
  static constexpr int kMostInFlight = 16;
  // How long the other nodes' answers are waited for.
  static constexpr absl::Duration kWait = absl::Seconds(1);

  // `cluster` must outlive the PresenceReads.
  explicit PresenceReads(ClusterAdmin& cluster) : cluster_(cluster) {}

  // Gives `done` (on any thread) 200 with {"topic", "count", "clients": [{"client_id", "user",
  // "node", "transport", "connected_unix_ms"}], "unanswered_nodes"}, the first `limit` clients
  // listed (0: 100, at most 1,000), or 429 when too many are being gathered. The topic is valid,
  // its rule allows presence and the caller may subscribe to it.
  void Answer(const std::string& topic, uint32_t limit, std::function<void(HttpAnswer)> done);

 private:
  ClusterAdmin& cluster_;
  std::atomic<int> in_flight_{0};
};

}  // namespace herald
