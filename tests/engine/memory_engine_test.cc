// What only the in-memory engine does: expiry by its clock, sweeps, key and byte caps (the
// behaviour every engine shares is in engine_test.cc).
#include "engine/memory_engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine_test_support.h"

namespace herald {
namespace {

TopicPosition PublishSync(Engine& engine, const std::string& topic, bool ephemeral = false,
                          const std::string& idempotency_key = "") {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_data("x");
  request.set_ephemeral(ephemeral);
  request.set_idempotency_key(idempotency_key);
  TopicPosition result;
  engine.Publish(request, "test-publisher", [&](absl::StatusOr<TopicPosition> position) {
    ASSERT_TRUE(position.ok());
    result = *position;
  });
  return result;
}

TopicHistory RecoverSync(Engine& engine, const std::string& topic,
                         std::optional<TopicPosition> since = std::nullopt) {
  TopicHistory result;
  engine.Recover(topic, since, "test-subscriber", [&](absl::StatusOr<TopicHistory> history) {
    ASSERT_TRUE(history.ok());
    result = *std::move(history);
  });
  return result;
}

std::vector<uint64_t> Offsets(const TopicHistory& history) {
  std::vector<uint64_t> offsets;
  for (const auto& event : history.events) offsets.push_back(event->offset());
  return offsets;
}

// A clock the test moves by hand.
struct ManualClock {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  std::function<absl::Time()> AsFunction() {
    return [this] { return now; };
  }
};

MemoryEngineOptions Options(ManualClock& clock, size_t history_size = 100) {
  MemoryEngineOptions options;
  options.history_size = history_size;
  options.history_ttl = absl::Minutes(10);
  options.idempotency_window = absl::Minutes(2);
  options.clock = clock.AsFunction();
  return options;
}

bool NoSubscribers(absl::string_view) { return false; }

TEST(MemoryEngine, ExpiredHistoryIsNotRecovered) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngine engine(sink, Options(clock));
  std::string epoch = PublishSync(engine, "a").epoch;
  PublishSync(engine, "a");
  clock.now += absl::Minutes(11);
  TopicHistory expired = RecoverSync(engine, "a", TopicPosition{epoch, 1});
  EXPECT_FALSE(expired.recovered);
  EXPECT_TRUE(expired.events.empty());
  // Up to date is still up to date: nothing after offset 2 was lost.
  EXPECT_TRUE(RecoverSync(engine, "a", TopicPosition{epoch, 2}).recovered);
}

TEST(MemoryEngine, ForgottenTopicsStartANewEpoch) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngine engine(sink, Options(clock));
  TopicPosition before = PublishSync(engine, "a");
  PublishSync(engine, "kept");
  clock.now += absl::Minutes(11);
  PublishSync(engine, "kept");
  EXPECT_EQ(engine.Sweep([](absl::string_view topic) { return topic == "followed"; }), 1u);
  TopicPosition after = PublishSync(engine, "a");
  EXPECT_NE(after.epoch, before.epoch);
  EXPECT_EQ(after.offset, 1u);
  EXPECT_FALSE(RecoverSync(engine, "a", before).recovered);
}

TEST(MemoryEngine, SweepKeepsTopicsWithSubscribers) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngine engine(sink, Options(clock));
  TopicPosition position = PublishSync(engine, "followed");
  clock.now += absl::Minutes(11);
  EXPECT_EQ(engine.Sweep([](absl::string_view topic) { return topic == "followed"; }), 1u);
  EXPECT_EQ(RecoverSync(engine, "followed").position, position);
  EXPECT_EQ(engine.Sweep(NoSubscribers), 0u);
}

TEST(MemoryEngine, ARepeatedIdempotencyKeyIsDeliveredOnceWithinTheWindow) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngine engine(sink, Options(clock));
  TopicPosition first = PublishSync(engine, "a", false, "order-1");
  PublishSync(engine, "a");
  EXPECT_EQ(PublishSync(engine, "a", false, "order-1"), first);
  EXPECT_EQ(PublishSync(engine, "b", false, "order-1").offset, 1u);  // Keys are per topic.
  EXPECT_EQ(sink.events().size(), 3u);
  clock.now += absl::Minutes(3);
  EXPECT_EQ(PublishSync(engine, "a", false, "order-1").offset, 3u);
  EXPECT_EQ(sink.events().size(), 4u);
}

TEST(MemoryEngine, IdempotencyKeysAreCappedPerTopicOldestFirst) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngineOptions options = Options(clock);
  options.max_keys_per_topic = 3;
  MemoryEngine engine(sink, options);
  for (int i = 1; i <= 4; ++i) PublishSync(engine, "a", false, absl::StrCat("k", i));
  // k1 was forgotten to make room for k4; k2..k4 are still deduplicated.
  EXPECT_EQ(PublishSync(engine, "a", false, "k1").offset, 5u);
  EXPECT_EQ(PublishSync(engine, "a", false, "k4").offset, 4u);
  EXPECT_EQ(PublishSync(engine, "a", false, "k3").offset, 3u);
}

absl::StatusOr<TopicPosition> PublishAs(Engine& engine, const std::string& publisher,
                                        const std::string& topic, const std::string& key) {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_data("x");
  request.set_idempotency_key(key);
  absl::StatusOr<TopicPosition> result;
  engine.Publish(request, publisher,
                 [&](absl::StatusOr<TopicPosition> position) { result = std::move(position); });
  return result;
}

TEST(MemoryEngine, IdempotencyKeysAreCappedInTotalByRefusingNewOnes) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngineOptions options = Options(clock);
  options.max_keys_total = 2;
  MemoryEngine engine(sink, options);
  PublishSync(engine, "a", false, "a1");
  PublishSync(engine, "b", false, "b1");
  // Full: a new key is refused (it could not be deduplicated); nothing was published.
  EXPECT_EQ(PublishAs(engine, "test-publisher", "c", "c1").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PublishSync(engine, "c").offset, 1u);  // Without a key it goes.
  // Keys remembered still deduplicate.
  EXPECT_EQ(PublishSync(engine, "a", false, "a1").offset, 1u);
  // Once the window passes (and the sweeper ran), room comes back.
  clock.now += options.idempotency_window + absl::Seconds(1);
  engine.Sweep([](absl::string_view) { return false; });
  EXPECT_EQ(PublishSync(engine, "c", false, "c1").offset, 2u);
}

// One publisher sending a unique key with every event (within its own rate) takes at most its
// share: others' retries are still deduplicated.
TEST(MemoryEngine, APublisherHoldsAtMostItsShareOfIdempotencyKeys) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngineOptions options = Options(clock);
  options.max_keys_total = 10;
  options.max_keys_per_publisher = 4;
  MemoryEngine engine(sink, options);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(PublishAs(engine, "key\neve", absl::StrCat("eve.", i), absl::StrCat("e", i)).ok());
  }
  absl::StatusOr<TopicPosition> refused = PublishAs(engine, "key\neve", "eve.9", "e9");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("share"), absl::string_view::npos);
  // Another publisher's first send and its retry: one event, one offset.
  absl::StatusOr<TopicPosition> first = PublishAs(engine, "key\nbob", "pay", "charge-42");
  absl::StatusOr<TopicPosition> retry = PublishAs(engine, "key\nbob", "pay", "charge-42");
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_EQ(retry->offset, first->offset);
  EXPECT_EQ(PublishSync(engine, "pay").offset, 2u);
  // Eve's old keys still deduplicate her own retries.
  EXPECT_EQ(PublishAs(engine, "key\neve", "eve.0", "e0")->offset, 1u);
}

TEST(MemoryEngine, ReadingAnUnknownTopicsHistoryCreatesNothing) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngine engine(sink, Options(clock));
  for (int i = 0; i < 100; ++i) {
    engine.ReadHistory(absl::StrCat("scan.", i), 10, [](absl::StatusOr<TopicHistory> history) {
      ASSERT_TRUE(history.ok());
      EXPECT_EQ(history->position.epoch, "");
      EXPECT_EQ(history->position.offset, 0u);
    });
  }
  EXPECT_EQ(engine.TopicCount(), 0u);
  // "Nothing seen" from before the topic existed recovers its first events.
  PublishSync(engine, "late");
  PublishSync(engine, "late");
  TopicHistory recovered = RecoverSync(engine, "late", TopicPosition{"", 0});
  EXPECT_TRUE(recovered.recovered);
  EXPECT_EQ(Offsets(recovered), (std::vector<uint64_t>{1, 2}));
}


// What one event of the tests below (on a topic named like `topic`) counts in history bytes.
size_t HistoryBytesOfOneEvent(const std::string& topic) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngine unlimited(sink, Options(clock));
  PublishSync(unlimited, topic);
  return unlimited.history_bytes();
}

TEST(MemoryEngine, TheHistoryBudgetDropsTheOldestEventsOfAnyTopicFirst) {
  RecordingSink sink;
  ManualClock clock;
  const size_t event_bytes = HistoryBytesOfOneEvent("prob");  // Names as long as below.
  ASSERT_GT(event_bytes, 0u);

  MemoryEngineOptions options = Options(clock);
  options.max_history_bytes = 4 * event_bytes;
  MemoryEngine engine(sink, options);
  std::string old_epoch = PublishSync(engine, "olds").epoch;  // t=0
  clock.now += absl::Seconds(1);
  PublishSync(engine, "olds");  // t=1
  clock.now += absl::Seconds(1);
  std::string busy_epoch = PublishSync(engine, "busy").epoch;  // t=2
  clock.now += absl::Seconds(1);
  PublishSync(engine, "busy");  // t=3: four events, at the budget
  EXPECT_EQ(engine.history_bytes(), 4 * event_bytes);
  clock.now += absl::Seconds(1);
  PublishSync(engine, "busy");  // t=4: the oldest of all (old #1) goes
  clock.now += absl::Seconds(1);
  PublishSync(engine, "busy");  // t=5: then old #2

  EXPECT_EQ(engine.history_bytes(), 4 * event_bytes);
  EXPECT_FALSE(RecoverSync(engine, "olds", TopicPosition{old_epoch, 0}).recovered);
  TopicHistory old_history = RecoverSync(engine, "olds", TopicPosition{old_epoch, 2});
  EXPECT_TRUE(old_history.recovered);
  EXPECT_TRUE(old_history.events.empty());
  EXPECT_EQ(Offsets(RecoverSync(engine, "busy", TopicPosition{busy_epoch, 0})),
            (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(MemoryEngine, ATopicPastItsShareDropsItsOwnOldestEventsFirst) {
  RecordingSink sink;
  ManualClock clock;
  const size_t event_bytes = HistoryBytesOfOneEvent("prob");  // Names as long as below.

  MemoryEngineOptions options = Options(clock);
  options.max_history_bytes = 10 * event_bytes;
  options.max_topic_history_bytes = 3 * event_bytes;
  MemoryEngine engine(sink, options);
  std::string calm_epoch = PublishSync(engine, "calm").epoch;  // The oldest event of all.
  clock.now += absl::Seconds(1);
  std::string loud_epoch;
  for (int i = 0; i < 20; ++i) {
    loud_epoch = PublishSync(engine, "loud").epoch;
    clock.now += absl::Seconds(1);
  }
  // The loud topic keeps its share, its newest events; the calm one lost nothing.
  EXPECT_EQ(Offsets(RecoverSync(engine, "loud", TopicPosition{loud_epoch, 17})),
            (std::vector<uint64_t>{18, 19, 20}));
  EXPECT_FALSE(RecoverSync(engine, "loud", TopicPosition{loud_epoch, 16}).recovered);
  TopicHistory calm = RecoverSync(engine, "calm", TopicPosition{calm_epoch, 0});
  EXPECT_TRUE(calm.recovered);
  EXPECT_EQ(Offsets(calm), (std::vector<uint64_t>{1}));
  EXPECT_EQ(engine.history_bytes(), 4 * event_bytes);
}

absl::Status RecoverAs(Engine& engine, const std::string& subscriber, const std::string& topic) {
  absl::Status status;
  engine.Recover(topic, std::nullopt, subscriber,
                 [&](absl::StatusOr<TopicHistory> history) { status = history.status(); });
  return status;
}

TopicPosition PublishAs(Engine& engine, const std::string& publisher, const std::string& topic) {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_data("x");
  TopicPosition result;
  engine.Publish(request, publisher, [&](absl::StatusOr<TopicPosition> position) {
    ASSERT_TRUE(position.ok()) << position.status();
    result = *position;
  });
  return result;
}

// One token spreading events over many topics, each within its topic share, still keeps no more
// than its credential's share: the other tenants' history stays, as does a backend's, also in
// topics that token subscribed to first.
TEST(MemoryEngine, ACredentialsEventsKeepAtMostItsShareOfHistoryHoweverManyTopicsTheySpan) {
  RecordingSink sink;
  ManualClock clock;
  const size_t event_bytes = HistoryBytesOfOneEvent("eve.0");  // Names as long as below.

  MemoryEngineOptions options = Options(clock);
  options.max_history_bytes = 20 * event_bytes;
  options.max_topic_history_bytes = 3 * event_bytes;
  options.max_history_bytes_per_credential = 5 * event_bytes;
  MemoryEngine engine(sink, options);
  std::string calm_epoch = PublishAs(engine, "jwt\nada", "ada.0").epoch;  // The oldest event.
  // Eve subscribes first to the backend's topic: its events are still the backend's.
  ASSERT_TRUE(RecoverAs(engine, "jwt\neve", "bck.0").ok());
  std::string backend_epoch;
  for (int i = 0; i < 8; ++i) backend_epoch = PublishAs(engine, "key\nbackend", "bck.0").epoch;
  std::vector<std::string> eve_epochs;
  for (int topic = 0; topic < 6; ++topic) {
    for (int i = 0; i < 3; ++i) {
      clock.now += absl::Seconds(1);
      TopicPosition position = PublishAs(engine, "jwt\neve", absl::StrCat("eve.", topic));
      if (i == 0) eve_epochs.push_back(position.epoch);
    }
  }
  // Eve's first topic keeps its topic share, the next its rest, the later ones nothing.
  EXPECT_EQ(Offsets(RecoverSync(engine, "eve.0", TopicPosition{eve_epochs[0], 0})),
            (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(Offsets(RecoverSync(engine, "eve.1", TopicPosition{eve_epochs[1], 1})),
            (std::vector<uint64_t>{2, 3}));
  EXPECT_FALSE(RecoverSync(engine, "eve.5", TopicPosition{eve_epochs[5], 2}).recovered);
  // Nothing after the newest position is lost: a subscriber there still recovers.
  EXPECT_TRUE(RecoverSync(engine, "eve.5", TopicPosition{eve_epochs[5], 3}).recovered);
  // Ada's one event and the backend's topic share were not pushed out.
  TopicHistory calm = RecoverSync(engine, "ada.0", TopicPosition{calm_epoch, 0});
  EXPECT_TRUE(calm.recovered);
  EXPECT_EQ(Offsets(calm), (std::vector<uint64_t>{1}));
  EXPECT_EQ(Offsets(RecoverSync(engine, "bck.0", TopicPosition{backend_epoch, 5})),
            (std::vector<uint64_t>{6, 7, 8}));
  EXPECT_EQ(engine.history_bytes(), (1 + 3 + 5) * event_bytes);

  // As eve's events leave history (here by their TTL), her share is whole again.
  clock.now += absl::Minutes(11);
  engine.Sweep([](absl::string_view) { return false; });
  EXPECT_EQ(engine.history_bytes(), 0u);
  std::string fresh_epoch;
  for (int i = 0; i < 5; ++i) fresh_epoch = PublishAs(engine, "jwt\neve", "eve.9").epoch;
  EXPECT_EQ(Offsets(RecoverSync(engine, "eve.9", TopicPosition{fresh_epoch, 2})),
            (std::vector<uint64_t>{3, 4, 5}));
}


// A token that may only subscribe cannot fill the topic table: each credential creates at most
// its share, and the last topics are kept for publisher keys (backends).
TEST(MemoryEngine, TopicsAreSharedPerCredentialAndTheLastOnesAreKeptForPublisherKeys) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngineOptions options = Options(clock);
  options.max_topics = 32;  // 30 for tokens, 2 more for publisher keys.
  options.max_topics_per_credential = 4;
  MemoryEngine engine(sink, options);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(RecoverAs(engine, "jwt\neve", absl::StrCat("eve.", i)).ok());
  absl::Status refused = RecoverAs(engine, "jwt\neve", "eve.4");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("share"), absl::string_view::npos);
  EXPECT_EQ(PublishAs(engine, "jwt\neve", "eve.5", "").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(RecoverAs(engine, "jwt\neve", "eve.0").ok());  // Existing topics are not new.
  EXPECT_TRUE(RecoverAs(engine, "jwt\nbob", "bob.0").ok());

  for (int i = 0; i < 25; ++i) ASSERT_TRUE(PublishAs(engine, "", absl::StrCat("anon.", i), "").ok());
  EXPECT_EQ(engine.TopicCount(), 30u);
  EXPECT_EQ(PublishAs(engine, "jwt\nbob", "bob.1", "").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(PublishAs(engine, "key\nkey:orders", "orders.1", "").ok());
  EXPECT_TRUE(PublishAs(engine, "key\nkey:orders", "orders.2", "").ok());
  EXPECT_EQ(PublishAs(engine, "key\nkey:orders", "orders.3", "").status().code(),
            absl::StatusCode::kResourceExhausted);

  // Topics nobody follows and nobody published to are forgotten, and their places come back.
  clock.now += options.history_ttl + absl::Seconds(1);
  engine.Sweep([](absl::string_view) { return false; });
  EXPECT_TRUE(RecoverAs(engine, "jwt\neve", "eve.9").ok());
}

// A busy publisher at its share still publishes through a full topic: the topic's oldest key,
// its own, makes room for the new one.
TEST(MemoryEngine, APublisherAtItsShareStillRotatesKeysThroughAFullTopic) {
  RecordingSink sink;
  ManualClock clock;
  MemoryEngineOptions options = Options(clock);
  options.max_keys_per_topic = 3;
  options.max_keys_per_publisher = 3;
  MemoryEngine engine(sink, options);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(PublishAs(engine, "key\nbusy", "a", absl::StrCat("k", i)).ok());
  absl::StatusOr<TopicPosition> rotated = PublishAs(engine, "key\nbusy", "a", "k4");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->offset, 4u);
  EXPECT_EQ(PublishAs(engine, "key\nbusy", "a", "k4")->offset, 4u);  // Remembered.
  // Elsewhere, with no key of its own to give up, its share holds.
  EXPECT_EQ(PublishAs(engine, "key\nbusy", "b", "k5").status().code(),
            absl::StatusCode::kResourceExhausted);
  // Another publisher on the full topic takes the place of the busy one's oldest key.
  EXPECT_TRUE(PublishAs(engine, "key\nother", "a", "o1").ok());
  EXPECT_TRUE(PublishAs(engine, "key\nbusy", "b", "k6").ok());
}

}  // namespace
}  // namespace herald
