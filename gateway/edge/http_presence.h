// GET /v1/presence: who follows a topic whose rule says `presence: true`, on every node, as JSON,
// for a page that shows who is in a room (then keeps it current with herald.join / herald.leave).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "admin/cluster_admin.h"
#include "edge/http_publish.h"

namespace herald {

class PresenceReads {
 public:
  // Presence answers being gathered at once on this node (each asks every node, which visits
  // the topic's followers), and by one reader; past either a read is refused with 429 until one
  // finishes.
  static constexpr int kMostInFlight = 16;
  static constexpr int kMostInFlightPerReader = 4;
  // How long the other nodes' answers are waited for.
  static constexpr absl::Duration kWait = absl::Seconds(1);

  // `cluster` must outlive the PresenceReads.
  explicit PresenceReads(ClusterAdmin& cluster) : cluster_(cluster) {}

  // Gives `done` (on any thread), for `reader` (see HistoryReader), 200 with {"topic", "count", "clients": [{"client_id", "user",
  // "node", "transport", "connected_unix_ms"}], "unanswered_nodes"}, the first `limit` clients
  // listed (0: 100, at most 1,000), 429 when too many are being gathered, or 503 when this
  // node's own answer did not come back (the engine is down). The topic is valid,
  // its rule allows presence and the caller may subscribe to it.
  void Answer(const std::string& topic, uint32_t limit, const std::string& reader,
              std::function<void(HttpAnswer)> done);

 private:
  // Takes a place for `reader`; false when it or the node has none left.
  bool Take(const std::string& reader);
  void GiveBack(const std::string& reader);

  ClusterAdmin& cluster_;
  absl::Mutex mutex_;
  int in_flight_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::flat_hash_map<std::string, int> by_reader_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace herald
