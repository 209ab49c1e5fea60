// The embedded engine: one process, topics and their history held in memory.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "owner_counts.h"
#include "topic/topic_rules.h"

namespace herald {

struct MemoryEngineOptions {
  // Events kept per topic (0 keeps none) and for how long, for topics `rules` does not name
  // (all of them without rules).
  size_t history_size = 1000;
  absl::Duration history_ttl = absl::Minutes(10);
  // Per-topic history size and TTL (--topic_rules_file), looked up when a topic is created and
  // again after a reload; null: every topic follows the two options above.
  std::shared_ptr<const TopicRulesStore> rules;
  absl::Duration idempotency_window = absl::Minutes(2);
  // Idempotency keys remembered (within the window) per topic, per publisher and in all (0: no
  // cap), so a publisher setting a key on every event cannot grow memory without bound nor take
  // the total others need. Past the topic's cap the topic forgets its own oldest key (whoever
  // published it: a topic shared by publishers shares its cap); past the publisher's share, or
  // the total, a publish with a new key is refused (RESOURCE_EXHAUSTED: it would not be
  // deduplicated) and one without a key still goes. Anonymous publishers count in the total
  // only.
  size_t max_keys_per_topic = 10000;
  size_t max_keys_per_publisher = 100000;
  size_t max_keys_total = 500000;
  // Topics held at most (0: no cap); one more is refused with RESOURCE_EXHAUSTED. The last
  // 1/kKeysOnlyShare of them only publisher keys (credentials starting "key\n") may create:
  // backends can still publish to new topics when tokens filled the rest.
  size_t max_topics = 0;
  // Topics one credential other than a publisher key may create, by publishing or subscribing
  // (0: no share). Anonymous requests (an empty credential) count only in max_topics.
  size_t max_topics_per_credential = 0;
  // Bytes of history in all topics at most (0: no cap): past it the oldest events of the whole
  // engine are dropped first, whatever their topic.
  size_t max_history_bytes = 0;
  // Bytes of history one topic keeps at most (0: no cap): a topic past its share drops its own
  // oldest events first (its newest stays), so one busy topic cannot push every other topic's
  // history out of the budget above.
  size_t max_topic_history_bytes = 0;
  // Bytes of history the events one credential published keep in all, whatever their topics (0:
  // no share; publisher keys and anonymous publishers have none). Past it, the topic it
  // publishes to drops its oldest events first, down to none: one token spreading events over
  // many topics cannot push other tenants' history out of max_history_bytes.
  size_t max_history_bytes_per_credential = 0;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

class MemoryEngine final : public Engine {
 public:
  static constexpr size_t kStripes = 64;
  static constexpr size_t kKeysOnlyShare = 16;

  // `sink` must outlive the engine.
  MemoryEngine(EventSink& sink, MemoryEngineOptions options);

  // Engine:
  void Publish(const herald::v1::PublishRequest& request, const std::string& publisher,
               PublishCallback done) override;
  void Recover(absl::string_view topic, const std::optional<TopicPosition>& since,
               const std::string& subscriber, HistoryCallback done) override;
  void ReadHistory(absl::string_view topic, size_t limit, HistoryCallback done) override;
  void RemoveHistory(absl::string_view topic, std::function<void(absl::Status)> done) override;

  // Drops expired history and idempotency keys, and forgets the topics left with neither that
  // have no subscriber and no publish within the TTL (their epoch is lost with them: a later
  // publish starts a new epoch at offset 1). Call it periodically; returns the topics kept.
  size_t Sweep(const std::function<bool(absl::string_view topic)>& has_subscribers);
  // The same for one stripe of the topics (0 <= stripe < kStripes), holding only that stripe's
  // lock: sweeping a stripe at a time never stalls every publisher at once.
  size_t SweepStripe(size_t stripe,
                     const std::function<bool(absl::string_view topic)>& has_subscribers);

  // Topics the engine holds now.
  size_t TopicCount();
  // Bytes the history of all topics holds now (payloads and their bookkeeping).
  size_t history_bytes() const { return history_bytes_.load(std::memory_order_relaxed); }
  Stats stats() override;

 private:
  struct IdempotencyKey {
    std::string key;
    std::string publisher;
    TopicPosition position;
    absl::Time expires;
  };
  // The history bytes of one publisher's events, in every topic (hence atomic: topics live on
  // different stripes).
  struct PublisherHistory {
    explicit PublisherHistory(std::string publisher) : publisher(std::move(publisher)) {}
    const std::string publisher;
    std::atomic<size_t> bytes{0};
  };
  struct TopicState {
    std::string epoch;
    std::string creator;  // The credential that created it (counted in topics_by_creator_).
    uint64_t last_offset = 0;
    // Its rule's history size and TTL, as of the rules' generation `rules_generation`.
    size_t history_size = 0;
    absl::Duration history_ttl;
    uint64_t rules_generation = 0;
    std::deque<std::shared_ptr<const EncodedEvent>> history;  // Oldest first.
    // Who published each event of `history` (in step with it), when that publisher has a share.
    std::deque<std::shared_ptr<PublisherHistory>> history_publishers;
    size_t history_bytes = 0;                                 // As counted in history_bytes_.
    std::deque<IdempotencyKey> keys;                         // Oldest first.
    absl::flat_hash_map<std::string, TopicPosition> positions_by_key;
    absl::Time last_publish;
    // This topic's entry in oldest_, while its history is not empty.
    std::optional<std::multimap<int64_t, std::string>::iterator> oldest_entry;
  };
  // Topics are spread over stripes so publishes to different topics rarely share a lock. A
  // stripe's lock is held while its events go to the sink, which keeps each topic in order.
  struct Stripe {
    absl::Mutex mutex;
    absl::flat_hash_map<std::string, TopicState> topics ABSL_GUARDED_BY(mutex);
  };

  Stripe& StripeFor(absl::string_view topic);
  // The topic's state, created for `creator` when new unless that passes a cap (then why).
  absl::StatusOr<TopicState*> TopicLocked(Stripe& stripe, absl::string_view topic,
                                          const std::string& creator)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mutex);
  // A place for one more topic created by `creator`, or why not; given back when it is forgotten.
  absl::Status TakeTopicPlace(const std::string& creator);
  void GiveBackTopicPlace(const std::string& creator);
  // Takes the topic's history size and TTL from the rules, when they changed since it last did
  // (or it is new), and drops the history the new size no longer keeps.
  void FollowRuleLocked(absl::string_view name, TopicState& topic);
  // Drops what is older than the TTL or the idempotency window.
  void ExpireLocked(absl::string_view name, TopicState& topic, absl::Time now);
  // Adds to / drops from the front of a topic's history, keeping the byte counts and oldest_.
  void AppendHistoryLocked(absl::string_view name, TopicState& topic,
                           std::shared_ptr<const EncodedEvent> event, const std::string& publisher);
  void PopOldestLocked(absl::string_view name, TopicState& topic);
  void OldestChangedLocked(absl::string_view name, TopicState& topic);
  // The history count of `publisher`, or null when it has no share.
  std::shared_ptr<PublisherHistory> PublisherHistoryFor(const std::string& publisher);
  // Forgets the count `history` (just released by a topic) once no event holds it.
  void ForgetUnusedPublisherHistory(std::shared_ptr<PublisherHistory> history);
  // Drops the engine's oldest events until the history fits max_history_bytes. Called without
  // any stripe lock.
  void TrimToBudget();
  // Assigns the event its position, keeps it in history and hands it to the sink (a repeated
  // idempotency key gets the first position instead).
  absl::StatusOr<TopicPosition> AcceptLocked(TopicState& topic,
                                             const herald::v1::PublishRequest& request,
                                             const std::string& publisher,
                                             herald::v1::Event event, absl::Time now);
  void ForgetOldestKeyLocked(TopicState& topic);
  // A place for one more key of `publisher` within its share and the total, or why not; judged
  // as if the key of `freed` (its publisher, when a key is about to be forgotten) were gone.
  absl::Status TakeKeyPlace(const std::string& publisher, const std::string* freed);
  void GiveBackKeyPlace(const std::string& publisher);
  // Expires the topic's history, then lets `read` fill a TopicHistory (its position already set)
  // under the topic's lock. An unknown topic is created only with a `creator` (a subscriber
  // holds it); otherwise it reads as empty, at epoch "" and offset 0, and leaves nothing behind.
  absl::StatusOr<TopicHistory> ReadTopic(absl::string_view topic_name,
                                         const std::string* creator,
                         const std::function<void(const TopicState&, TopicHistory&)>& read);
  // Offset of the oldest event still in history (last_offset + 1 when there is none).
  static uint64_t FirstOffsetLocked(const TopicState& topic);

  EventSink& sink_;
  const MemoryEngineOptions options_;
  const std::shared_ptr<const TopicRulesStore> rules_;  // options_.rules, or the two options.
  std::array<Stripe, kStripes> stripes_;
  // Idempotency keys remembered, in all and per publisher. Lock order: a stripe, then this.
  absl::Mutex keys_mutex_;
  size_t key_count_ ABSL_GUARDED_BY(keys_mutex_) = 0;
  OwnerCounts keys_by_publisher_ ABSL_GUARDED_BY(keys_mutex_);
  // Topics held, in all and per creator. Lock order: a stripe, then this.
  absl::Mutex topics_mutex_;
  size_t topic_count_ ABSL_GUARDED_BY(topics_mutex_) = 0;
  OwnerCounts topics_by_creator_ ABSL_GUARDED_BY(topics_mutex_);
  std::atomic<size_t> history_bytes_{0};
  std::atomic<size_t> history_events_{0};
  // History counts of the publishers that have events kept. Copies are taken under the lock.
  absl::Mutex publishers_mutex_;
  absl::flat_hash_map<std::string, std::shared_ptr<PublisherHistory>> history_by_publisher_
      ABSL_GUARDED_BY(publishers_mutex_);
  // Every topic with history, by the time of its oldest event. Lock order: a stripe, then this.
  absl::Mutex oldest_mutex_;
  std::multimap<int64_t, std::string> oldest_ ABSL_GUARDED_BY(oldest_mutex_);
};

}  // namespace herald
