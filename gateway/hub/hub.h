// The hub: subscriptions spread over one shard per event loop, and fan-out of encoded events.
#pragma once

#include "absl/strings/string_view.h"
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "hub/shard.h"
#include "hub/transport.h"

namespace herald {

// Receives every accepted event from the engine, encodes it once, and hands it to the shards
// that have subscribers of its topic. Methods taking a `shard` must run on that shard's loop.
class Hub final : public EventSink {
 public:
  // One shard per loop; shard i posts its work with loops[i]. At most 64 shards.
  explicit Hub(std::vector<LoopPoster> loops);

  size_t shard_count() const { return shards_.size(); }
  Shard& shard(size_t index) { return *shards_[index]; }

  void Attach(size_t shard, Transport* transport);
  void Detach(size_t shard, Transport* transport);
  // Returns false when the transport was already subscribed to `topic`.
  bool Subscribe(size_t shard, absl::string_view topic, Transport* transport);
  void Unsubscribe(size_t shard, absl::string_view topic, Transport* transport);

  // Any thread: closes every attached transport, each on its own loop.
  void CloseAll(const Disconnect& disconnect);
  // Any thread: transports attached on all shards.
  size_t attached_count() const;

  // EventSink:
  void OnEvent(herald::v1::Event event) override;

 private:
  void MarkInterest(size_t shard, absl::string_view topic, bool interested);

  std::vector<std::unique_ptr<Shard>> shards_;
  mutable absl::Mutex interest_mutex_;
  // Which shards have subscribers of a topic: bit i for shard i.
  absl::flat_hash_map<std::string, uint64_t> shards_by_topic_ ABSL_GUARDED_BY(interest_mutex_);
};

}  // namespace herald
