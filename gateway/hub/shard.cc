// A shard's subscriptions and its inbox of events to deliver.
#include "hub/shard.h"

#include <algorithm>

#include "loop_check.h"

namespace herald {

Shard::Shard(HubLoop loop) : loop_(std::move(loop)) {}

void Shard::Post(std::function<void()> task) { loop_.post(std::move(task)); }

void Shard::Deliver(std::shared_ptr<const EncodedEvent> event) {
  Push({std::move(event), {}});
}

absl::Duration Shard::InboxWait() const {
  int64_t since = inbox_since_ns_.load(std::memory_order_relaxed);
  if (since == 0) return absl::ZeroDuration();
  return absl::Nanoseconds(std::max<int64_t>(0, SteadyNowNs() - since));
}

void Shard::DeliverLoss(absl::string_view topic) { Push({nullptr, std::string(topic)}); }

void Shard::Push(InboxItem item) {
  bool was_empty;
  {
    absl::MutexLock lock(&inbox_mutex_);
    was_empty = inbox_.empty();
    if (was_empty) inbox_since_ns_.store(SteadyNowNs(), std::memory_order_relaxed);
    inbox_.push_back(std::move(item));
  }
  if (was_empty) loop_.post([this] { DeliverInbox(); });
}

void Shard::CloseSubscribers(const std::string& topic, const Disconnect& disconnect) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return;
  std::vector<Subscriber*> subscribers;
  for (const Subscription& subscription : it->second) subscribers.push_back(subscription.subscriber);
  // What they were sent before goes first; closing may detach them (and change subscribers_).
  for (Subscriber* subscriber : subscribers) {
    subscriber->Flush();
    to_flush_.erase(subscriber);
  }
  for (Subscriber* subscriber : subscribers) subscriber->Close(disconnect);
}

bool Shard::Offer(Subscription& subscription, const std::shared_ptr<const EncodedEvent>& event,
                  bool replayed) {
  Subscriber::Delivery delivery{.replayed = replayed};
  if (event->offset() != 0) {  // Ephemeral events have no position: always passed on.
    TopicPosition& delivered = subscription.delivered;
    if (event->epoch() == delivered.epoch) {
      if (event->offset() <= delivered.offset) return false;
    } else {
      delivered.epoch = event->epoch();
      delivery.new_epoch = true;
    }
    delivered.offset = event->offset();
  }
  subscription.subscriber->Enqueue(event, delivery);
  return true;
}

void Shard::DeliverInbox() {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  {
    absl::MutexLock lock(&inbox_mutex_);
    delivering_.swap(inbox_);
    inbox_since_ns_.store(0, std::memory_order_relaxed);
  }
  for (const InboxItem& item : delivering_) {
    if (!item.event) {
      CloseSubscribers(item.lost_topic, kDisconnectEventsLost);
      continue;
    }
    const std::shared_ptr<const EncodedEvent>& event = item.event;
    auto it = subscribers_.find(event->topic());
    if (it == subscribers_.end()) continue;
    for (Subscription& subscription : it->second) {
      if (subscription.held) {
        Hold(subscription, event);
      } else if (Offer(subscription, event, /*replayed=*/false)) {
        to_flush_.insert(subscription.subscriber);
      }
    }
  }
  delivering_.clear();
  for (Subscriber* subscriber : to_flush_) subscriber->Flush();
  to_flush_.clear();
}

uint64_t Shard::Attach(Subscriber* subscriber) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto [it, inserted] = attachments_.try_emplace(subscriber);
  if (inserted) {
    it->second.id = next_attachment_id_++;
    attached_count_.fetch_add(1, std::memory_order_relaxed);
  }
  return it->second.id;
}

std::optional<uint64_t> Shard::AttachmentId(Subscriber* subscriber) const {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto it = attachments_.find(subscriber);
  if (it == attachments_.end()) return std::nullopt;
  return it->second.id;
}

std::vector<Shard::Removal> Shard::Detach(Subscriber* subscriber) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  std::vector<Removal> removed;
  auto it = attachments_.find(subscriber);
  if (it == attachments_.end()) return removed;
  for (const std::string& topic : it->second.topics) {
    removed.push_back(RemoveSubscriber(topic, subscriber));
  }
  attachments_.erase(it);
  attached_count_.fetch_sub(1, std::memory_order_relaxed);
  return removed;
}

Shard::AddedSubscription Shard::AddSubscription(absl::string_view topic, Subscriber* subscriber,
                                                bool counted) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  Attach(subscriber);
  attachments_[subscriber].topics.emplace(topic);
  std::vector<Subscription>& subscribers = subscribers_[topic];
  uint64_t generation = next_generation_++;
  subscribers.push_back(
      Subscription{.subscriber = subscriber, .generation = generation, .counted = counted});
  return {generation, subscribers.size() == 1};
}

std::optional<uint64_t> Shard::SubscriptionGeneration(absl::string_view topic,
                                                      Subscriber* subscriber) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  Subscription* subscription = FindSubscription(topic, subscriber);
  if (subscription == nullptr) return std::nullopt;
  return subscription->generation;
}

std::optional<Shard::Removal> Shard::RemoveSubscription(absl::string_view topic,
                                                       Subscriber* subscriber) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto it = attachments_.find(subscriber);
  if (it == attachments_.end() || it->second.topics.erase(topic) == 0) return std::nullopt;
  return RemoveSubscriber(topic, subscriber);
}

Shard::Removal Shard::RemoveSubscriber(absl::string_view topic, Subscriber* subscriber) {
  Removal removal{.topic = std::string(topic)};
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return removal;
  std::vector<Subscription>& subscribers = it->second;
  auto position = std::find_if(subscribers.begin(), subscribers.end(),
                               [&](const Subscription& s) { return s.subscriber == subscriber; });
  if (position != subscribers.end()) {
    removal.counted = position->counted;
    if (position != subscribers.end() - 1) *position = std::move(subscribers.back());
    subscribers.pop_back();
  }
  if (!subscribers.empty()) return removal;
  subscribers_.erase(it);
  removal.emptied = true;
  return removal;
}

Shard::Subscription* Shard::FindSubscription(absl::string_view topic, Subscriber* subscriber) {
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return nullptr;
  for (Subscription& subscription : it->second) {
    if (subscription.subscriber == subscriber) return &subscription;
  }
  return nullptr;
}

void Shard::Hold(Subscription& subscription, const std::shared_ptr<const EncodedEvent>& event) {
  if (!subscription.last_dropped && subscription.held_events.size() < kMaxHeldEvents) {
    subscription.held_events.push_back(event);
    return;
  }
  // Past the bound, what is held and every later event is dropped (the memory goes at once);
  // the last kept-in-history one tells where the client continues.
  if (!subscription.last_dropped) {
    subscription.last_dropped = TopicPosition{event->epoch(), 0};
    for (const std::shared_ptr<const EncodedEvent>& held : subscription.held_events) {
      if (held->offset() != 0) subscription.last_dropped = {held->epoch(), held->offset()};
    }
    std::vector<std::shared_ptr<const EncodedEvent>>().swap(subscription.held_events);
  }
  if (event->offset() != 0) subscription.last_dropped = {event->epoch(), event->offset()};
}

std::optional<TopicPosition> Shard::LastDroppedWhileHeld(absl::string_view topic,
                                                        Subscriber* subscriber,
                                                        uint64_t generation) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  Subscription* subscription = FindSubscription(topic, subscriber);
  if (subscription == nullptr || subscription->generation != generation) return std::nullopt;
  return subscription->last_dropped;
}

void Shard::QueueReplay(absl::string_view topic, Subscriber* subscriber, uint64_t generation,
                        const TopicPosition& start,
                        const std::vector<std::shared_ptr<const EncodedEvent>>& replay) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  Subscription* subscription = FindSubscription(topic, subscriber);
  if (subscription == nullptr || subscription->generation != generation || !subscription->held) {
    return;
  }
  subscription->delivered = start;
  for (const std::shared_ptr<const EncodedEvent>& event : replay) {
    Offer(*subscription, event, /*replayed=*/true);
  }
}

void Shard::ReleaseHold(absl::string_view topic, Subscriber* subscriber, uint64_t generation) {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  Subscription* subscription = FindSubscription(topic, subscriber);
  if (subscription == nullptr || subscription->generation != generation || !subscription->held) {
    return;
  }
  std::vector<std::shared_ptr<const EncodedEvent>> held = std::move(subscription->held_events);
  subscription->held_events.clear();
  subscription->held = false;
  for (const std::shared_ptr<const EncodedEvent>& event : held) {
    Offer(*subscription, event, /*replayed=*/false);
  }
}

bool Shard::IsSubscribed(absl::string_view topic, Subscriber* subscriber) const {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto it = attachments_.find(subscriber);
  return it != attachments_.end() && it->second.topics.contains(topic);
}

size_t Shard::TopicCount(Subscriber* subscriber) const {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto it = attachments_.find(subscriber);
  return it == attachments_.end() ? 0 : it->second.topics.size();
}

std::vector<std::string> Shard::Topics(Subscriber* subscriber) const {
  HERALD_ASSERT_THREAD(loop_.runs_here());
  auto it = attachments_.find(subscriber);
  if (it == attachments_.end()) return {};
  return std::vector<std::string>(it->second.topics.begin(), it->second.topics.end());
}

}  // namespace herald
