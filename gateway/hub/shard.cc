// A shard's subscriptions and its inbox of events to deliver.
#include "hub/shard.h"

#include <algorithm>

namespace herald {
namespace {

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Shard::Shard(LoopPoster post) : post_(std::move(post)) {}

void Shard::Post(std::function<void()> task) { post_(std::move(task)); }

void Shard::Deliver(std::shared_ptr<const EncodedEvent> event) {
  Push({std::move(event), {}});
}

absl::Duration Shard::InboxWait() const {
  int64_t since = inbox_since_ns_.load(std::memory_order_relaxed);
  if (since == 0) return absl::ZeroDuration();
  return absl::Nanoseconds(std::max<int64_t>(0, SteadyNowNs() - since));
}

void Shard::NoteWriteBacklog() {
  write_backlog_ns_.store(SteadyNowNs(), std::memory_order_relaxed);
}

bool Shard::WriteBacklogged() const {
  int64_t noted = write_backlog_ns_.load(std::memory_order_relaxed);
  return noted != 0 && SteadyNowNs() - noted <= absl::ToInt64Nanoseconds(kWriteNoteWindow);
}

void Shard::NoteWriteWait(absl::Duration waited) {
  // The longest within the window (a race between two loops' notes only loses one of them).
  int64_t now = SteadyNowNs();
  int64_t wait_ns = absl::ToInt64Nanoseconds(waited);
  bool recent = now - write_wait_noted_ns_.load(std::memory_order_relaxed) <=
                absl::ToInt64Nanoseconds(kWriteNoteWindow);
  if (recent && wait_ns < write_wait_ns_.load(std::memory_order_relaxed)) return;
  write_wait_ns_.store(wait_ns, std::memory_order_relaxed);
  write_wait_noted_ns_.store(now, std::memory_order_relaxed);
}

absl::Duration Shard::WriteWait() const {
  int64_t noted = write_wait_noted_ns_.load(std::memory_order_relaxed);
  if (noted == 0 || SteadyNowNs() - noted > absl::ToInt64Nanoseconds(kWriteNoteWindow)) {
    return absl::ZeroDuration();
  }
  return absl::Nanoseconds(write_wait_ns_.load(std::memory_order_relaxed));
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
  if (was_empty) post_([this] { DeliverInbox(); });
}

void Shard::CloseSubscribers(const std::string& topic, const Disconnect& disconnect) {
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return;
  std::vector<Transport*> transports;
  for (const Subscription& subscription : it->second) transports.push_back(subscription.transport);
  // What they were sent before goes first; closing may detach them (and change subscribers_).
  for (Transport* transport : transports) {
    transport->Flush();
    to_flush_.erase(transport);
  }
  for (Transport* transport : transports) transport->Close(disconnect);
}

bool Shard::Offer(Subscription& subscription, const std::shared_ptr<const EncodedEvent>& event,
                  bool replayed) {
  Transport::Delivery delivery{.replayed = replayed};
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
  subscription.transport->Enqueue(event, delivery);
  return true;
}

void Shard::DeliverInbox() {
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
        to_flush_.insert(subscription.transport);
      }
    }
  }
  delivering_.clear();
  for (Transport* transport : to_flush_) transport->Flush();
  to_flush_.clear();
}

uint64_t Shard::Attach(Transport* transport) {
  auto [it, inserted] = attachments_.try_emplace(transport);
  if (inserted) {
    it->second.id = next_attachment_id_++;
    attached_count_.fetch_add(1, std::memory_order_relaxed);
  }
  return it->second.id;
}

std::optional<uint64_t> Shard::AttachmentId(Transport* transport) const {
  auto it = attachments_.find(transport);
  if (it == attachments_.end()) return std::nullopt;
  return it->second.id;
}

std::vector<std::string> Shard::Detach(Transport* transport) {
  std::vector<std::string> emptied;
  auto it = attachments_.find(transport);
  if (it == attachments_.end()) return emptied;
  for (const std::string& topic : it->second.topics) {
    if (RemoveSubscriber(topic, transport)) emptied.push_back(topic);
  }
  attachments_.erase(it);
  attached_count_.fetch_sub(1, std::memory_order_relaxed);
  return emptied;
}

Shard::AddedSubscription Shard::AddSubscription(absl::string_view topic, Transport* transport) {
  Attach(transport);
  attachments_[transport].topics.emplace(topic);
  std::vector<Subscription>& subscribers = subscribers_[topic];
  uint64_t generation = next_generation_++;
  subscribers.push_back(Subscription{.transport = transport, .generation = generation});
  return {generation, subscribers.size() == 1};
}

std::optional<uint64_t> Shard::SubscriptionGeneration(absl::string_view topic,
                                                      Transport* transport) {
  Subscription* subscription = FindSubscription(topic, transport);
  if (subscription == nullptr) return std::nullopt;
  return subscription->generation;
}

bool Shard::RemoveSubscription(absl::string_view topic, Transport* transport) {
  auto it = attachments_.find(transport);
  if (it == attachments_.end() || it->second.topics.erase(topic) == 0) return false;
  return RemoveSubscriber(topic, transport);
}

bool Shard::RemoveSubscriber(absl::string_view topic, Transport* transport) {
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return false;
  std::vector<Subscription>& subscribers = it->second;
  auto position = std::find_if(subscribers.begin(), subscribers.end(),
                               [&](const Subscription& s) { return s.transport == transport; });
  if (position != subscribers.end()) {
    if (position != subscribers.end() - 1) *position = std::move(subscribers.back());
    subscribers.pop_back();
  }
  if (!subscribers.empty()) return false;
  subscribers_.erase(it);
  return true;
}

Shard::Subscription* Shard::FindSubscription(absl::string_view topic, Transport* transport) {
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return nullptr;
  for (Subscription& subscription : it->second) {
    if (subscription.transport == transport) return &subscription;
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
                                                        Transport* transport,
                                                        uint64_t generation) {
  Subscription* subscription = FindSubscription(topic, transport);
  if (subscription == nullptr || subscription->generation != generation) return std::nullopt;
  return subscription->last_dropped;
}

void Shard::QueueReplay(absl::string_view topic, Transport* transport, uint64_t generation,
                        const TopicPosition& start,
                        const std::vector<std::shared_ptr<const EncodedEvent>>& replay) {
  Subscription* subscription = FindSubscription(topic, transport);
  if (subscription == nullptr || subscription->generation != generation || !subscription->held) {
    return;
  }
  subscription->delivered = start;
  for (const std::shared_ptr<const EncodedEvent>& event : replay) {
    Offer(*subscription, event, /*replayed=*/true);
  }
}

void Shard::ReleaseHold(absl::string_view topic, Transport* transport, uint64_t generation) {
  Subscription* subscription = FindSubscription(topic, transport);
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

bool Shard::IsSubscribed(absl::string_view topic, Transport* transport) const {
  auto it = attachments_.find(transport);
  return it != attachments_.end() && it->second.topics.contains(topic);
}

size_t Shard::TopicCount(Transport* transport) const {
  auto it = attachments_.find(transport);
  return it == attachments_.end() ? 0 : it->second.topics.size();
}

std::vector<std::string> Shard::Topics(Transport* transport) const {
  auto it = attachments_.find(transport);
  if (it == attachments_.end()) return {};
  return std::vector<std::string>(it->second.topics.begin(), it->second.topics.end());
}

void Shard::CloseAll(const Disconnect& disconnect) {
  std::vector<Transport*> transports;
  transports.reserve(attachments_.size());
  for (const auto& [transport, attachment] : attachments_) transports.push_back(transport);
  for (Transport* transport : transports) transport->Close(disconnect);
}

}  // namespace herald
