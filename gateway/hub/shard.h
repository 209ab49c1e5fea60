// One event loop's share of the subscriptions: the subscribers it owns and their topics.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "codec/encoded_event.h"
#include "topic/topic_position.h"
#include "hub/hub_loop.h"
#include "hub/loop_load.h"
#include "hub/subscriber.h"

namespace herald {



// Unless a method says otherwise, it must be called on the shard's own loop thread.
//
// Each subscription remembers the last position it delivered, so a topic's events reach a
// subscriber once each and in offset order, whether they come live or replayed from history. A
// new subscription holds its live events until its replay is queued (QueueReplay, ReleaseHold).
class Shard {
 public:
  // Live events a subscription holds at most while its history is read (a slow engine must not
  // grow a shard without bound). Past it the held events are dropped and the subscribe is
  // answered recovered=false: the client re-fetches its state and continues live.
  static constexpr size_t kMaxHeldEvents = 10000;

  explicit Shard(HubLoop loop);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Any thread: runs `task` on this shard's loop.
  void Post(std::function<void()> task);

  // Any thread: queues `event` for this shard's subscribers of its topic. Events queued
  // together are delivered together, and each subscriber is flushed once per batch.
  void Deliver(std::shared_ptr<const EncodedEvent> event);
  // Any thread: after the events delivered before it, closes the subscribers following `topic`
  // with kDisconnectEventsLost (their events before the next were lost).
  void DeliverLoss(absl::string_view topic);

  // Returns the subscriber's attachment id, which tells it apart from a later subscriber at the
  // same address. Attaching twice keeps the first id.
  uint64_t Attach(Subscriber* subscriber);
  std::optional<uint64_t> AttachmentId(Subscriber* subscriber) const;
  // What removing one subscription changed.
  struct Removal {
    std::string topic;
    bool emptied = false;  // The topic has no subscriber left on this shard.
    bool counted = false;  // The subscription held a place under its topic's subscriber cap.
  };
  // Drops the subscriber and its subscriptions; returns one Removal per subscription.
  std::vector<Removal> Detach(Subscriber* subscriber);

  struct AddedSubscription {
    uint64_t generation;  // Tells this subscription from a later one to the same topic.
    bool first_on_shard;  // The topic had no subscriber on this shard before.
  };
  // Adds a held subscription (the subscriber must not follow `topic` yet, and is attached if it
  // was not); `counted` when it holds a place under the topic's subscriber cap.
  AddedSubscription AddSubscription(absl::string_view topic, Subscriber* subscriber,
                                    bool counted = false);
  // The generation of the subscriber's subscription to `topic`, if it has one.
  std::optional<uint64_t> SubscriptionGeneration(absl::string_view topic, Subscriber* subscriber);
  // Null when the subscriber did not follow `topic`.
  std::optional<Removal> RemoveSubscription(absl::string_view topic, Subscriber* subscriber);
  bool IsSubscribed(absl::string_view topic, Subscriber* subscriber) const;
  size_t TopicCount(Subscriber* subscriber) const;
  // The topics the subscriber follows, in no particular order.
  std::vector<std::string> Topics(Subscriber* subscriber) const;

  // The position of the last live event subscription `generation` dropped while held (past
  // kMaxHeldEvents), if it dropped any.
  std::optional<TopicPosition> LastDroppedWhileHeld(absl::string_view topic, Subscriber* subscriber,
                                                    uint64_t generation);

  // Ending the hold of subscription `generation`, if it still exists, in two steps: first
  // `start` (the position the client has) and `replay`, then the held live events; each event
  // goes to the subscriber at most once, in order. All topics of one subscribe queue their
  // replays before any releases its held events, so live events never take a replay's room.
  void QueueReplay(absl::string_view topic, Subscriber* subscriber, uint64_t generation,
                   const TopicPosition& start,
                   const std::vector<std::shared_ptr<const EncodedEvent>>& replay);
  void ReleaseHold(absl::string_view topic, Subscriber* subscriber, uint64_t generation);

  // Any thread: how long the oldest event waiting in the inbox has waited (zero when none
  // waits): this loop's delivery lag.
  absl::Duration InboxWait() const;
  // Any thread: what this loop's connections note about its writes.
  LoopLoad& load() { return load_; }
  const LoopLoad& load() const { return load_; }

  // Any thread.
  size_t attached_count() const { return attached_count_.load(std::memory_order_relaxed); }

 private:
  struct Subscription {
    Subscriber* subscriber;
    uint64_t generation;
    bool counted = false;  // Holds a place under the topic's subscriber cap.
    // The last event this subscription passed on; its epoch is the one the client knows (from
    // its subscribe answer or resume position, then from events).
    TopicPosition delivered;
    bool held = true;
    std::vector<std::shared_ptr<const EncodedEvent>> held_events;
    // Set once held events were dropped: the last of them.
    std::optional<TopicPosition> last_dropped;
  };
  struct Attachment {
    uint64_t id;
    absl::flat_hash_set<std::string> topics;
  };

  void DeliverInbox();
  // Keeps a held subscription's live event, up to kMaxHeldEvents.
  static void Hold(Subscription& subscription, const std::shared_ptr<const EncodedEvent>& event);
  Subscription* FindSubscription(absl::string_view topic, Subscriber* subscriber);
  // Passes `event` on unless the subscription already delivered it; returns true if it did.
  static bool Offer(Subscription& subscription, const std::shared_ptr<const EncodedEvent>& event,
                    bool replayed);
  Removal RemoveSubscriber(absl::string_view topic, Subscriber* subscriber);

  HubLoop loop_;
  absl::flat_hash_map<std::string, std::vector<Subscription>> subscribers_;
  absl::flat_hash_map<Subscriber*, Attachment> attachments_;
  uint64_t next_attachment_id_ = 1;
  uint64_t next_generation_ = 1;
  absl::flat_hash_set<Subscriber*> to_flush_;
  std::atomic<size_t> attached_count_{0};

  // An event, or (with no event) the loss of the topic's events before the next.
  struct InboxItem {
    std::shared_ptr<const EncodedEvent> event;
    std::string lost_topic;
  };
  void Push(InboxItem item);
  void CloseSubscribers(const std::string& topic, const Disconnect& disconnect);

  absl::Mutex inbox_mutex_;
  std::vector<InboxItem> inbox_ ABSL_GUARDED_BY(inbox_mutex_);
  // When the inbox last became non-empty (steady clock ns); 0 while it is empty.
  std::atomic<int64_t> inbox_since_ns_{0};
  LoopLoad load_;
  std::vector<InboxItem> delivering_;
};

}  // namespace herald
