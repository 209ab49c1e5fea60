// One event loop's share of the subscriptions: the transports it owns and their topics.
#pragma once

#include "absl/strings/string_view.h"
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "hub/encoded_event.h"
#include "hub/transport.h"

namespace herald {

// Runs a task on an event loop thread, later (never inline).
using LoopPoster = std::function<void(std::function<void()>)>;

// Unless a method says otherwise, it must be called on the shard's own loop thread.
class Shard {
 public:
  explicit Shard(LoopPoster post);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Any thread: runs `task` on this shard's loop.
  void Post(std::function<void()> task);

  // Any thread: queues `event` for this shard's subscribers of its topic. Events queued
  // together are delivered together, and each transport is flushed once per batch.
  void Deliver(std::shared_ptr<const EncodedEvent> event);

  void Attach(Transport* transport);
  // Drops the transport and its subscriptions; returns the topics left with no subscriber here.
  std::vector<std::string> Detach(Transport* transport);
  // Returns true when `transport` is the topic's first subscriber on this shard. A transport
  // already subscribed stays subscribed once.
  bool Subscribe(absl::string_view topic, Transport* transport);
  // Returns true when the topic has no subscriber left on this shard.
  bool Unsubscribe(absl::string_view topic, Transport* transport);
  bool IsSubscribed(absl::string_view topic, Transport* transport) const;
  size_t TopicCount(Transport* transport) const;
  void CloseAll(const Disconnect& disconnect);

  // Any thread.
  size_t attached_count() const { return attached_count_.load(std::memory_order_relaxed); }

 private:
  void DeliverInbox();
  bool RemoveSubscriber(absl::string_view topic, Transport* transport);

  LoopPoster post_;
  absl::flat_hash_map<std::string, std::vector<Transport*>> subscribers_;
  absl::flat_hash_map<Transport*, absl::flat_hash_set<std::string>> topics_of_;
  absl::flat_hash_set<Transport*> to_flush_;
  std::atomic<size_t> attached_count_{0};

  absl::Mutex inbox_mutex_;
  std::vector<std::shared_ptr<const EncodedEvent>> inbox_ ABSL_GUARDED_BY(inbox_mutex_);
  std::vector<std::shared_ptr<const EncodedEvent>> delivering_;
};

}  // namespace herald
