// Subscriptions, recovery and fan-out across shards.
#include "hub/hub.h"

#include <algorithm>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "log.h"
#include "topic/topic.h"

namespace herald {

struct Hub::PendingSubscribe {
  uint64_t attachment_id = 0;
  std::vector<TopicRequest> topics;
  // The subscriptions this call added (none for topics the subscriber already followed).
  std::vector<std::optional<uint64_t>> generations;
  std::vector<absl::StatusOr<TopicHistory>> histories;
  size_t remaining = 0;
  SubscribeCallback done;
};

Hub::Hub(std::vector<HubLoop> loops, std::shared_ptr<const TopicRulesStore> rules)
    : rules_(std::move(rules)) {
  if (loops.empty() || loops.size() > 64) {
    LogError("the hub supports 1 to 64 event loops");
    std::abort();
  }
  for (HubLoop& loop : loops) shards_.push_back(std::make_unique<Shard>(std::move(loop)));
}

void Hub::Attach(size_t shard, Subscriber* subscriber) { shards_[shard]->Attach(subscriber); }

void Hub::Detach(size_t shard, Subscriber* subscriber) {
  for (const Shard::Removal& removal : shards_[shard]->Detach(subscriber)) Removed(shard, removal);
}

void Hub::Removed(size_t shard, const Shard::Removal& removal) {
  if (removal.emptied) MarkInterest(shard, removal.topic, false);
  if (removal.counted) GiveBackSubscriberPlace(removal.topic);
}

absl::StatusOr<bool> Hub::TakeSubscriberPlace(absl::string_view topic) {
  if (!rules_) return false;
  size_t cap = rules_->current()->For(topic).max_subscribers;
  if (cap == 0) return false;
  absl::MutexLock lock(&caps_mutex_);
  size_t& subscribers = capped_subscribers_[topic];
  if (subscribers >= cap) {
    return absl::PermissionDeniedError(absl::StrCat("topic ", topic, " is full: it has its ", cap,
                                                    " subscribers (max_subscribers)"));
  }
  ++subscribers;
  return true;
}

void Hub::GiveBackSubscriberPlace(absl::string_view topic) {
  absl::MutexLock lock(&caps_mutex_);
  auto it = capped_subscribers_.find(topic);
  if (it == capped_subscribers_.end()) return;
  if (--it->second == 0) capped_subscribers_.erase(it);
}

void Hub::Subscribe(size_t shard_index, Subscriber* subscriber, std::vector<TopicRequest> topics,
                    SubscribeCallback done) {
  Shard& shard = *shards_[shard_index];
  auto pending = std::make_shared<PendingSubscribe>();
  pending->attachment_id = shard.Attach(subscriber);
  pending->topics = std::move(topics);
  pending->done = std::move(done);
  size_t count = pending->topics.size();
  pending->generations.resize(count);
  pending->histories.resize(count, absl::UnknownError("not read"));
  pending->remaining = count;
  if (count == 0) {
    shard.Post([this, shard_index, subscriber, pending] {
      CompleteSubscribe(shard_index, subscriber, *pending);
    });
    return;
  }
  // Subscribed (and held) before the engine is read: an event published meanwhile is either in
  // what the engine returns or held here, and FinishRecovery drops the ones in both.
  std::vector<bool> refused(count, false);
  for (size_t i = 0; i < count; ++i) {
    const std::string& topic = pending->topics[i].topic;
    if (shard.IsSubscribed(topic, subscriber)) continue;
    absl::StatusOr<bool> counted = TakeSubscriberPlace(topic);
    if (!counted.ok()) {
      pending->histories[i] = counted.status();
      refused[i] = true;
      --pending->remaining;
      continue;
    }
    Shard::AddedSubscription added = shard.AddSubscription(topic, subscriber, *counted);
    pending->generations[i] = added.generation;
    if (added.first_on_shard) MarkInterest(shard_index, topic, true);
  }
  if (pending->remaining == 0) {
    shard.Post([this, shard_index, subscriber, pending] {
      CompleteSubscribe(shard_index, subscriber, *pending);
    });
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    if (refused[i]) continue;
    const TopicRequest& request = pending->topics[i];
    // `pending` moves on to the shard's loop: its last reference (and the session its `done`
    // holds) must not drop on an engine thread.
    engine_->Recover(request.topic, request.since, subscriber->credential(),
                     [this, shard_index, subscriber, pending, i](
                         absl::StatusOr<TopicHistory> history) mutable {
                       shards_[shard_index]->Post([this, shard_index, subscriber,
                                                   pending = std::move(pending), i,
                                                   history = std::move(history)]() mutable {
                         pending->histories[i] = std::move(history);
                         if (--pending->remaining == 0) {
                           CompleteSubscribe(shard_index, subscriber, *pending);
                         }
                       });
                     });
  }
}

void Hub::CompleteSubscribe(size_t shard_index, Subscriber* subscriber, PendingSubscribe& pending) {
  Shard& shard = *shards_[shard_index];
  if (shard.AttachmentId(subscriber) != pending.attachment_id) return;  // Gone meanwhile.
  std::vector<absl::StatusOr<SubscribedTopic>> results;
  // The replies `done` queues come before the replays and take room too: keep theirs aside,
  // so a replay announced as recovered always fits.
  size_t reply_room = kReplyAllowance * pending.topics.size();
  size_t replay_room = subscriber->ReplayRoom();
  replay_room -= std::min(replay_room, reply_room);
  for (size_t i = 0; i < pending.topics.size(); ++i) {
    const std::string& topic = pending.topics[i].topic;
    absl::StatusOr<TopicHistory>& history = pending.histories[i];
    if (!history.ok()) {
      if (pending.generations[i] &&
          shard.SubscriptionGeneration(topic, subscriber) == pending.generations[i]) {
        Unsubscribe(shard_index, topic, subscriber);
      }
      results.push_back(history.status());
      continue;
    }
    std::optional<TopicPosition> dropped =
        pending.generations[i]
            ? shard.LastDroppedWhileHeld(topic, subscriber, *pending.generations[i])
            : std::nullopt;
    if (dropped) {
      // Live events were dropped while the history was read: nothing can be exact any more,
      // and the client continues after the last event dropped.
      history->recovered = false;
      history->events.clear();
      if (dropped->epoch != history->position.epoch ||
          dropped->offset > history->position.offset) {
        history->position = *dropped;
      }
    }
    if (history->recovered) {
      size_t cost = 0;
      for (const auto& event : history->events) cost += subscriber->ReplayCost(*event);
      if (cost > replay_room) {
        // Too much to queue for this client: it re-fetches its state instead.
        history->recovered = false;
        history->events.clear();
      } else {
        replay_room -= cost;
      }
    }
    results.push_back(SubscribedTopic{topic, history->position, history->recovered});
  }
  pending.done(std::move(results));
  if (shard.AttachmentId(subscriber) != pending.attachment_id) return;
  for (size_t i = 0; i < pending.topics.size(); ++i) {
    const absl::StatusOr<TopicHistory>& history = pending.histories[i];
    if (!pending.generations[i] || !history.ok()) continue;
    // A recovered client continues from its own position; any other from the current one.
    const TopicPosition& start = history->recovered ? *pending.topics[i].since : history->position;
    shard.QueueReplay(pending.topics[i].topic, subscriber, *pending.generations[i], start,
                      history->events);
  }
  for (size_t i = 0; i < pending.topics.size(); ++i) {
    if (!pending.generations[i] || !pending.histories[i].ok()) continue;
    shard.ReleaseHold(pending.topics[i].topic, subscriber, *pending.generations[i]);
  }
  subscriber->Flush();
}

void Hub::Unsubscribe(size_t shard, absl::string_view topic, Subscriber* subscriber) {
  if (std::optional<Shard::Removal> removal = shards_[shard]->RemoveSubscription(topic, subscriber)) {
    Removed(shard, *removal);
  }
}

void Hub::MarkInterest(size_t shard, absl::string_view topic, bool interested) {
  // The engine hears of the node's first and last subscriber of a topic under the lock, so it
  // gets those changes in order.
  absl::MutexLock lock(&interest_mutex_);
  uint64_t bit = uint64_t{1} << shard;
  if (interested) {
    auto [it, inserted] = shards_by_topic_.try_emplace(topic, 0);
    it->second |= bit;
    if (inserted && !IsInternalTopic(topic)) followed_topics_.fetch_add(1, std::memory_order_relaxed);
    if (inserted && engine_) engine_->SetInterest(topic, true);
    return;
  }
  auto it = shards_by_topic_.find(topic);
  if (it == shards_by_topic_.end()) return;
  it->second &= ~bit;
  if (it->second == 0) {
    shards_by_topic_.erase(it);
    if (!IsInternalTopic(topic)) followed_topics_.fetch_sub(1, std::memory_order_relaxed);
    if (engine_) engine_->SetInterest(topic, false);
  }
}

size_t Hub::attached_count() const {
  size_t count = 0;
  for (const std::unique_ptr<Shard>& shard : shards_) count += shard->attached_count();
  return count;
}

bool Hub::HasSubscribers(absl::string_view topic) const {
  absl::ReaderMutexLock lock(&interest_mutex_);
  return shards_by_topic_.contains(topic);
}

void Hub::OnEvent(std::shared_ptr<const EncodedEvent> event) {
  uint64_t shards;
  {
    absl::ReaderMutexLock lock(&interest_mutex_);
    auto it = shards_by_topic_.find(event->topic());
    if (it == shards_by_topic_.end()) return;
    shards = it->second;
  }
  for (size_t index = 0; shards != 0; ++index, shards >>= 1) {
    if (shards & 1) shards_[index]->Deliver(event);
  }
}

void Hub::OnEventsLost(absl::string_view topic) {
  uint64_t shards;
  {
    absl::ReaderMutexLock lock(&interest_mutex_);
    auto it = shards_by_topic_.find(topic);
    if (it == shards_by_topic_.end()) return;
    shards = it->second;
  }
  for (size_t index = 0; shards != 0; ++index, shards >>= 1) {
    if (shards & 1) shards_[index]->DeliverLoss(topic);
  }
}

bool Hub::WriteBacklogged() const {
  for (const std::unique_ptr<Shard>& shard : shards_) {
    if (shard->load().WriteBacklogged(shard->attached_count())) return true;
  }
  return false;
}

absl::Duration Hub::DeliveryLag() const {
  absl::Duration lag = absl::ZeroDuration();
  for (const std::unique_ptr<Shard>& shard : shards_) {
    // A write wait is the loop's only when the loop as a whole is behind on its writes.
    absl::Duration write_wait = shard->load().WriteBacklogged(shard->attached_count())
                                    ? shard->load().WriteWait()
                                    : absl::ZeroDuration();
    lag = std::max({lag, shard->InboxWait(), write_wait});
  }
  return lag;
}

}  // namespace herald
