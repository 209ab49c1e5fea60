// The hub: subscriptions spread over one shard per event loop, recovery, and fan-out.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "hub/shard.h"
#include "hub/subscriber.h"
#include "topic/topic_rules.h"

namespace herald {

// A topic to follow, and optionally the position the client already has.
struct TopicRequest {
  std::string topic;
  std::optional<TopicPosition> since;
};

// A topic subscribed: where the subscriber stands in it, and whether the events after the
// position it asked for follow (replayed from history) or it starts from `position`, now.
struct SubscribedTopic {
  std::string topic;
  TopicPosition position;
  bool recovered = false;
};

// Receives every accepted event from the engine and hands it to the shards that have
// subscribers of its topic (it was encoded once, by the engine). Methods taking a `shard` must
// run on that shard's loop.
class Hub final : public EventSink {
 public:
  // Room kept for the reply of each subscribed topic when sizing replays (a reply holds the
  // topic, its epoch and offset: well under this).
  static constexpr size_t kReplyAllowance = 1024;

  using SubscribeCallback = std::function<void(std::vector<absl::StatusOr<SubscribedTopic>>)>;

  // One shard per loop; shard i posts its work with loops[i]. At most 64 shards. `rules` (may
  // be null) cap the subscribers of topics (max_subscribers).
  explicit Hub(std::vector<HubLoop> loops, std::shared_ptr<const TopicRulesStore> rules = nullptr);

  // The engine positions and replays are read from; set once, before the first Subscribe, and
  // reset to null before the engine is destroyed.
  void set_engine(Engine* engine) {
    absl::MutexLock lock(&interest_mutex_);
    engine_ = engine;
  }

  size_t shard_count() const { return shards_.size(); }
  // Any thread: the longest any loop's accepted events have waited to be handed out, or, on a
  // loop behind on its writes (LoopLoad::WriteBacklogged), to be written to peers that read
  // (LoopLoad::WriteWait).
  absl::Duration DeliveryLag() const;
  // Any thread: whether a loop is behind on its writes (LoopLoad::WriteBacklogged): it writes
  // more slowly than events come.
  bool WriteBacklogged() const;
  // The overload evidence of shard `index`'s loop, which its connections add to.
  LoopLoad& load(size_t index) { return shards_[index]->load(); }

  void Attach(size_t shard, Subscriber* subscriber);
  void Detach(size_t shard, Subscriber* subscriber);

  // Subscribes `subscriber` to each topic it does not follow yet and reads each topic's position
  // from the engine, with the events after `since` where it is given and history still holds
  // them, as far as the subscriber has room for the replays (Subscriber::ReplayRoom; a topic
  // whose replay does not fit is answered recovered=false). Then, on the shard's loop: `done`
  // gets one result per topic (in order; recovered or not, with the current epoch and offset;
  // PERMISSION_DENIED for a topic whose rule's max_subscribers it already has on this node),
  // and only after it has run are the replays queued
  // on the subscriber, each followed by its live events without a gap or a repeat. Neither
  // happens when the subscriber detached in the meantime.
  void Subscribe(size_t shard, Subscriber* subscriber, std::vector<TopicRequest> topics,
                 SubscribeCallback done);
  void Unsubscribe(size_t shard, absl::string_view topic, Subscriber* subscriber);

  // Any thread: subscribers attached on all shards.
  size_t attached_count() const;
  // Any thread: whether any shard has a subscriber of `topic`.
  bool HasSubscribers(absl::string_view topic) const;
  // Any thread: the topics this node's clients follow (internal ones aside).
  size_t followed_topic_count() const { return followed_topics_.load(std::memory_order_relaxed); }

  // EventSink:
  void OnEvent(std::shared_ptr<const EncodedEvent> event) override;
  // Closes the topic's subscribers with kDisconnectEventsLost, after the events before.
  void OnEventsLost(absl::string_view topic) override;

 private:
  struct PendingSubscribe;

  void CompleteSubscribe(size_t shard, Subscriber* subscriber, PendingSubscribe& pending);
  void MarkInterest(size_t shard, absl::string_view topic, bool interested);
  // After a subscription is removed: the shard's interest and the topic's cap place.
  void Removed(size_t shard, const Shard::Removal& removal);
  // A place under the subscriber cap of `topic`'s rule: counted (true) when the rule has a cap,
  // not counted (false) when it has none, PERMISSION_DENIED when the cap is reached.
  absl::StatusOr<bool> TakeSubscriberPlace(absl::string_view topic);
  void GiveBackSubscriberPlace(absl::string_view topic);

  const std::shared_ptr<const TopicRulesStore> rules_;
  Engine* engine_ = nullptr;
  std::vector<std::unique_ptr<Shard>> shards_;
  mutable absl::Mutex interest_mutex_;
  // Which shards have subscribers of a topic: bit i for shard i.
  absl::flat_hash_map<std::string, uint64_t> shards_by_topic_ ABSL_GUARDED_BY(interest_mutex_);
  std::atomic<size_t> followed_topics_{0};  // The entries above, internal topics aside.
  // Subscribers on all shards of the topics whose rule caps them.
  absl::Mutex caps_mutex_;
  absl::flat_hash_map<std::string, size_t> capped_subscribers_ ABSL_GUARDED_BY(caps_mutex_);
};

}  // namespace herald
