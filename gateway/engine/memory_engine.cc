// The embedded in-memory engine.
#include "engine/memory_engine.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "random_id.h"
#include "topic/topic.h"

namespace herald {

MemoryEngine::MemoryEngine(EventSink& sink, MemoryEngineOptions options)
    : sink_(sink), options_(std::move(options)), rules_(RulesOrDefaults(options_.rules, options_.history_size, options_.history_ttl)) {}

MemoryEngine::Stripe& MemoryEngine::StripeFor(absl::string_view topic) {
  return stripes_[absl::Hash<absl::string_view>{}(topic) % kStripes];
}

absl::StatusOr<MemoryEngine::TopicState*> MemoryEngine::TopicLocked(Stripe& stripe,
                                                                     absl::string_view topic,
                                                                     const std::string& creator) {
  if (auto it = stripe.topics.find(topic); it != stripe.topics.end()) {
    FollowRuleLocked(topic, it->second);
    return &it->second;
  }
  // The gateway's own topics take no place: clients cannot crowd them out, nor they clients.
  if (!IsInternalTopic(topic)) {
    if (absl::Status place = TakeTopicPlace(creator); !place.ok()) return place;
  }
  TopicState& state = stripe.topics[topic];
  state.epoch = RandomId(6);
  state.creator = creator;
  FollowRuleLocked(topic, state);
  return &state;
}

void MemoryEngine::FollowRuleLocked(absl::string_view name, TopicState& topic) {
  if (topic.rules_generation == rules_->generation()) return;
  std::shared_ptr<const TopicRules> rules = rules_->current(&topic.rules_generation);
  const TopicRule& rule = rules->For(name);
  topic.history_size = rule.history_size;
  topic.history_ttl = rule.history_ttl;
  while (topic.history.size() > topic.history_size) PopOldestLocked(name, topic);
}

absl::Status MemoryEngine::TakeTopicPlace(const std::string& creator) {
  bool publisher_key = absl::StartsWith(creator, "key\n");
  absl::MutexLock lock(&topics_mutex_);
  size_t cap = options_.max_topics;
  if (cap != 0 && !publisher_key) cap -= cap / kKeysOnlyShare;
  if (cap != 0 && topic_count_ >= cap) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the gateway holds its maximum of ", cap, " topics",
        publisher_key || options_.max_topics == cap ? "" : " open to tokens"));
  }
  if (!creator.empty() && !publisher_key &&
      !topics_by_creator_.Take(creator, options_.max_topics_per_credential)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this credential created its share of ", options_.max_topics_per_credential,
                     " topics; they are forgotten once unused"));
  }
  ++topic_count_;
  return absl::OkStatus();
}

void MemoryEngine::GiveBackTopicPlace(const std::string& creator) {
  absl::MutexLock lock(&topics_mutex_);
  --topic_count_;
  if (!creator.empty() && !absl::StartsWith(creator, "key\n")) topics_by_creator_.GiveBack(creator);
}

namespace {

// What a kept event costs beyond its encoded bytes: the event object, its shared ownership and
// its place in the history.
constexpr size_t kEventOverheadBytes = 256;

// Counted as if all three forms were built (WebSocket bytes now; the SSE body and the Event
// message on first use, each about as large), so the budget holds whatever the subscribers.
size_t HistoryBytes(const EncodedEvent& event) {
  return 3 * event.ws_frame().size() + kEventOverheadBytes;
}

}  // namespace

void MemoryEngine::AppendHistoryLocked(absl::string_view name, TopicState& topic,
                                       std::shared_ptr<const EncodedEvent> event,
                                       const std::string& publisher) {
  size_t bytes = HistoryBytes(*event);
  history_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  history_events_.fetch_add(1, std::memory_order_relaxed);
  topic.history_bytes += bytes;
  std::shared_ptr<PublisherHistory> owner = PublisherHistoryFor(publisher);
  if (owner) owner->bytes.fetch_add(bytes, std::memory_order_relaxed);
  topic.history.push_back(std::move(event));
  topic.history_publishers.push_back(owner);
  if (topic.history.size() == 1) OldestChangedLocked(name, topic);
  if (topic.history.size() > topic.history_size) PopOldestLocked(name, topic);
  while (options_.max_topic_history_bytes != 0 &&
         topic.history_bytes > options_.max_topic_history_bytes && topic.history.size() > 1) {
    PopOldestLocked(name, topic);
  }
  // A publisher past its share empties the topic it publishes to rather than keep its newest:
  // the share bounds what it keeps however many topics it spreads its events over. (Within one
  // topic, a publisher can push the others' events out by volume anyway.)
  while (owner && owner->bytes.load(std::memory_order_relaxed) >
                      options_.max_history_bytes_per_credential &&
         !topic.history.empty()) {
    PopOldestLocked(name, topic);
  }
}

void MemoryEngine::PopOldestLocked(absl::string_view name, TopicState& topic) {
  size_t bytes = HistoryBytes(*topic.history.front());
  history_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  history_events_.fetch_sub(1, std::memory_order_relaxed);
  topic.history_bytes -= bytes;
  std::shared_ptr<PublisherHistory> owner = std::move(topic.history_publishers.front());
  topic.history_publishers.pop_front();
  topic.history.pop_front();
  OldestChangedLocked(name, topic);
  if (owner) {
    owner->bytes.fetch_sub(bytes, std::memory_order_relaxed);
    ForgetUnusedPublisherHistory(std::move(owner));
  }
}

std::shared_ptr<MemoryEngine::PublisherHistory> MemoryEngine::PublisherHistoryFor(
    const std::string& publisher) {
  if (options_.max_history_bytes_per_credential == 0 || publisher.empty() ||
      absl::StartsWith(publisher, "key\n")) {
    return nullptr;
  }
  absl::MutexLock lock(&publishers_mutex_);
  std::shared_ptr<PublisherHistory>& history = history_by_publisher_[publisher];
  if (history == nullptr) history = std::make_shared<PublisherHistory>(publisher);
  return history;
}

void MemoryEngine::ForgetUnusedPublisherHistory(std::shared_ptr<PublisherHistory> history) {
  absl::MutexLock lock(&publishers_mutex_);
  // Held by the map and `history` alone: no kept event holds it (copies are only taken under
  // this lock, so none can appear meanwhile).
  if (history.use_count() == 2) history_by_publisher_.erase(history->publisher);
}

void MemoryEngine::OldestChangedLocked(absl::string_view name, TopicState& topic) {
  absl::MutexLock lock(&oldest_mutex_);
  if (topic.oldest_entry) oldest_.erase(*topic.oldest_entry);
  topic.oldest_entry.reset();
  if (!topic.history.empty()) {
    topic.oldest_entry = oldest_.emplace(topic.history.front()->time_unix_ms(), std::string(name));
  }
}

void MemoryEngine::TrimToBudget() {
  if (options_.max_history_bytes == 0) return;
  while (history_bytes_.load(std::memory_order_relaxed) > options_.max_history_bytes) {
    std::string name;
    {
      absl::MutexLock lock(&oldest_mutex_);
      if (oldest_.empty()) return;
      name = oldest_.begin()->second;
    }
    Stripe& stripe = StripeFor(name);
    absl::MutexLock lock(&stripe.mutex);
    // Another trimmer may have made room meanwhile.
    if (history_bytes_.load(std::memory_order_relaxed) <= options_.max_history_bytes) return;
    auto topic = stripe.topics.find(name);
    // Another thread may have emptied it meanwhile; the next oldest is then looked up.
    if (topic != stripe.topics.end() && !topic->second.history.empty()) {
      PopOldestLocked(name, topic->second);
    }
  }
}

void MemoryEngine::ExpireLocked(absl::string_view name, TopicState& topic, absl::Time now) {
  int64_t oldest_kept_ms = absl::ToUnixMillis(now - topic.history_ttl);
  while (!topic.history.empty() && topic.history.front()->time_unix_ms() < oldest_kept_ms) {
    PopOldestLocked(name, topic);
  }
  while (!topic.keys.empty() && topic.keys.front().expires <= now) ForgetOldestKeyLocked(topic);
}

void MemoryEngine::ForgetOldestKeyLocked(TopicState& topic) {
  topic.positions_by_key.erase(topic.keys.front().key);
  GiveBackKeyPlace(topic.keys.front().publisher);
  topic.keys.pop_front();
}

absl::Status MemoryEngine::TakeKeyPlace(const std::string& publisher, const std::string* freed) {
  absl::MutexLock lock(&keys_mutex_);
  size_t total = key_count_ - (freed != nullptr ? 1 : 0);
  if (options_.max_keys_total != 0 && total >= options_.max_keys_total) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the gateway holds its maximum of ", options_.max_keys_total,
                     " idempotency keys; retry later, or publish without a key"));
  }
  // Anonymous publishers (no credential) count only in the total, as for topics.
  size_t freed_own = freed != nullptr && *freed == publisher ? 1 : 0;
  if (!publisher.empty() &&
      !keys_by_publisher_.Take(publisher, options_.max_keys_per_publisher, freed_own)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this publisher holds its share of ", options_.max_keys_per_publisher,
        " idempotency keys within the window; retry later, or publish without a key"));
  }
  ++key_count_;
  return absl::OkStatus();
}

void MemoryEngine::GiveBackKeyPlace(const std::string& publisher) {
  absl::MutexLock lock(&keys_mutex_);
  --key_count_;
  if (!publisher.empty()) keys_by_publisher_.GiveBack(publisher);
}

uint64_t MemoryEngine::FirstOffsetLocked(const TopicState& topic) {
  return topic.history.empty() ? topic.last_offset + 1 : topic.history.front()->offset();
}

void MemoryEngine::Publish(const herald::v1::PublishRequest& request, const std::string& publisher,
                           PublishCallback done) {
  absl::Time now = options_.clock();
  herald::v1::Event event = EventFromPublish(request, absl::ToUnixMillis(now));

  absl::StatusOr<TopicPosition> position;
  Stripe& stripe = StripeFor(request.topic());
  {
    absl::MutexLock lock(&stripe.mutex);
    absl::StatusOr<TopicState*> topic = TopicLocked(stripe, request.topic(), publisher);
    if (topic.ok()) {
      position = AcceptLocked(**topic, request, publisher, std::move(event), now);
    } else {
      position = topic.status();
    }
  }
  TrimToBudget();
  done(std::move(position));
}

absl::StatusOr<TopicPosition> MemoryEngine::AcceptLocked(
    TopicState& topic, const herald::v1::PublishRequest& request, const std::string& publisher,
    herald::v1::Event event, absl::Time now) {
  ExpireLocked(request.topic(), topic, now);
  const std::string& key = request.idempotency_key();
  auto seen = key.empty() ? topic.positions_by_key.end() : topic.positions_by_key.find(key);
  if (seen != topic.positions_by_key.end()) {
    return seen->second;  // A repeat: answered with the first position, not delivered.
  }
  // A new key is remembered, or the event is refused: never published without its key.
  bool remember = !key.empty() && options_.max_keys_per_topic > 0;
  if (remember) {
    // A full topic gives up its oldest key for this one, which frees that key's place: the
    // place is judged with it freed, and the key forgotten only once the place is granted (a
    // refused publish must not cost the topic a key).
    bool topic_full = topic.keys.size() >= options_.max_keys_per_topic;
    const std::string* freed = topic_full ? &topic.keys.front().publisher : nullptr;
    if (absl::Status place = TakeKeyPlace(publisher, freed); !place.ok()) return place;
    if (topic_full) ForgetOldestKeyLocked(topic);
  }
  TopicPosition position;
  position.epoch = topic.epoch;
  position.offset = request.ephemeral() ? 0 : ++topic.last_offset;
  topic.last_publish = now;
  if (remember) {
    topic.positions_by_key.emplace(key, position);
    topic.keys.push_back({key, publisher, position, now + options_.idempotency_window});
  }
  event.set_epoch(position.epoch);
  event.set_offset(position.offset);
  std::shared_ptr<const EncodedEvent> encoded = EncodeEvent(event);
  if (position.offset != 0 && topic.history_size > 0) {
    AppendHistoryLocked(request.topic(), topic, encoded, publisher);
  }
  sink_.OnEvent(std::move(encoded));
  return position;
}

absl::StatusOr<TopicHistory> MemoryEngine::ReadTopic(
    absl::string_view topic_name, const std::string* creator,
    const std::function<void(const TopicState&, TopicHistory&)>& read) {
  TopicHistory history;
  Stripe& stripe = StripeFor(topic_name);
  absl::MutexLock lock(&stripe.mutex);
  if (creator == nullptr && !stripe.topics.contains(topic_name)) return history;
  absl::StatusOr<TopicState*> state =
      TopicLocked(stripe, topic_name, creator == nullptr ? std::string() : *creator);
  if (!state.ok()) return state.status();
  TopicState& topic = **state;
  ExpireLocked(topic_name, topic, options_.clock());
  history.position = {topic.epoch, topic.last_offset};
  read(topic, history);
  return history;
}

void MemoryEngine::Recover(absl::string_view topic_name, const std::optional<TopicPosition>& since,
                           const std::string& subscriber, HistoryCallback done) {
  done(ReadTopic(topic_name, &subscriber, [&](const TopicState& topic, TopicHistory& history) {
    // Recovered only when nothing after `since` was lost: same epoch, not ahead of the topic,
    // and history reaching back to the event right after it. The position of a topic that did
    // not exist yet (epoch "", offset 0: "nothing seen") recovers while history still starts
    // at offset 1.
    bool same_epoch = since && (since->epoch == topic.epoch ||
                                (since->epoch.empty() && since->offset == 0));
    if (same_epoch && since->offset <= topic.last_offset &&
        since->offset + 1 >= FirstOffsetLocked(topic)) {
      history.recovered = true;
      for (const std::shared_ptr<const EncodedEvent>& event : topic.history) {
        if (event->offset() > since->offset) history.events.push_back(event);
      }
    }
  }));
}

void MemoryEngine::ReadHistory(absl::string_view topic_name, size_t limit, HistoryCallback done) {
  done(ReadTopic(topic_name, /*creator=*/nullptr, [&](const TopicState& topic, TopicHistory& history) {
    size_t count = std::min(limit, topic.history.size());
    history.events.assign(topic.history.end() - static_cast<ptrdiff_t>(count), topic.history.end());
  }));
}

void MemoryEngine::RemoveHistory(absl::string_view topic_name,
                                 std::function<void(absl::Status)> done) {
  {
    Stripe& stripe = StripeFor(topic_name);
    absl::MutexLock lock(&stripe.mutex);
    if (auto it = stripe.topics.find(topic_name); it != stripe.topics.end()) {
      while (!it->second.history.empty()) PopOldestLocked(topic_name, it->second);
    }
  }
  done(absl::OkStatus());
}

Engine::Stats MemoryEngine::stats() {
  Stats stats;
  {
    absl::MutexLock lock(&topics_mutex_);
    stats.topics = topic_count_;
  }
  stats.history_events = history_events_.load(std::memory_order_relaxed);
  stats.history_bytes = history_bytes_.load(std::memory_order_relaxed);
  return stats;
}

size_t MemoryEngine::TopicCount() {
  size_t count = 0;
  for (Stripe& stripe : stripes_) {
    absl::MutexLock lock(&stripe.mutex);
    count += stripe.topics.size();
  }
  return count;
}

size_t MemoryEngine::Sweep(const std::function<bool(absl::string_view topic)>& has_subscribers) {
  size_t kept = 0;
  for (size_t stripe = 0; stripe < kStripes; ++stripe) kept += SweepStripe(stripe, has_subscribers);
  return kept;
}

size_t MemoryEngine::SweepStripe(
    size_t stripe_index, const std::function<bool(absl::string_view topic)>& has_subscribers) {
  absl::Time now = options_.clock();
  size_t kept = 0;
  Stripe& stripe = stripes_[stripe_index];
  absl::MutexLock lock(&stripe.mutex);
  for (auto it = stripe.topics.begin(); it != stripe.topics.end();) {
    TopicState& topic = it->second;
    FollowRuleLocked(it->first, topic);
    ExpireLocked(it->first, topic, now);
    // A topic nobody follows or published to within the TTL, with nothing left to recover or
    // dedupe.
    if (topic.history.empty() && topic.keys.empty() &&
        now - topic.last_publish >= topic.history_ttl && !has_subscribers(it->first)) {
      if (!IsInternalTopic(it->first)) GiveBackTopicPlace(topic.creator);
      stripe.topics.erase(it++);
    } else {
      ++kept;
      ++it;
    }
  }
  return kept;
}

}  // namespace herald
