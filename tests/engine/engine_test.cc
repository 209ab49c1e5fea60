// One suite for every engine: the behaviour the hub and the clients rely on, run against the
// memory engine and against the Redis engine on a real redis-server.
#include "engine/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/memory_engine.h"
#include "engine/redis_engine.h"
#include "topic/topic_rules.h"
#include "engine/engine_test_support.h"
#include "support/redis_server.h"

namespace herald {
namespace {

using testing::RedisServer;


herald::v1::PublishRequest Request(const std::string& topic, const std::string& data = "x") {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_data(data);
  return request;
}

TopicPosition PublishSync(Engine& engine, const std::string& topic, bool ephemeral = false,
                          const std::string& idempotency_key = "") {
  herald::v1::PublishRequest request = Request(topic);
  request.set_ephemeral(ephemeral);
  request.set_idempotency_key(idempotency_key);
  absl::StatusOr<TopicPosition> position = TryPublish(engine, request);
  EXPECT_TRUE(position.ok()) << position.status();
  return position.value_or(TopicPosition{});
}

TopicHistory RecoverSync(Engine& engine, const std::string& topic,
                         std::optional<TopicPosition> since = std::nullopt) {
  absl::StatusOr<TopicHistory> history =
      WaitForHistory([&](Engine::HistoryCallback done) { engine.Recover(topic, since, "test-subscriber", std::move(done)); });
  EXPECT_TRUE(history.ok()) << history.status();
  return history.value_or(TopicHistory{});
}

TopicHistory ReadHistorySync(Engine& engine, const std::string& topic, size_t limit) {
  absl::StatusOr<TopicHistory> history =
      WaitForHistory([&](Engine::HistoryCallback done) { engine.ReadHistory(topic, limit, std::move(done)); });
  EXPECT_TRUE(history.ok()) << history.status();
  return history.value_or(TopicHistory{});
}

std::vector<uint64_t> Offsets(const TopicHistory& history) {
  std::vector<uint64_t> offsets;
  for (const auto& event : history.events) offsets.push_back(event->offset());
  return offsets;
}

bool WaitUntilReady(const Engine& engine) {
  return WaitUntil([&] { return engine.ready(); });
}

enum class EngineKind { kMemory, kRedis, kRedisCluster };

// The Redis servers are started on first use and shared by the suite; each engine gets keys of
// its own (a fresh prefix).
class EngineTest : public ::testing::TestWithParam<EngineKind> {
 public:
  static void TearDownTestSuite() {
    redis_.reset();
    cluster_.reset();
  }

 protected:
  std::unique_ptr<Engine> MakeEngine(EventSink& sink, size_t history_size = 100,
                                     std::shared_ptr<const TopicRulesStore> rules = nullptr) {
    if (GetParam() == EngineKind::kMemory) {
      MemoryEngineOptions options;
      options.history_size = history_size;
      options.rules = rules;
      return std::make_unique<MemoryEngine>(sink, options);
    }
    std::string error;
    if (GetParam() == EngineKind::kRedis && !redis_) redis_ = RedisServer::Start(&error);
    if (GetParam() == EngineKind::kRedisCluster && !cluster_) {
      cluster_ = testing::RedisCluster::Start(3, &error);
    }
    std::string url = GetParam() == EngineKind::kRedis ? (redis_ ? redis_->url() : "")
                                                       : (cluster_ ? cluster_->url() : "");
    EXPECT_FALSE(url.empty()) << error;
    RedisEngineOptions options;
    options.address = *ParseRedisAddress(url.empty() ? "redis://127.0.0.1:1" : url);
    options.history_size = history_size;
    options.rules = rules;
    options.prefix = absl::StrCat("test", next_prefix_++);
    auto engine = std::make_unique<RedisEngine>(sink, options);
    EXPECT_TRUE(WaitUntilReady(*engine));
    return engine;
  }

  // Subscribes the engine to `topic` as the hub does for its first subscriber; once it
  // returns, every later event of the topic reaches the sink.
  static TopicHistory Follow(Engine& engine, const std::string& topic) {
    engine.SetInterest(topic, true);
    return RecoverSync(engine, topic);
  }

  static inline std::unique_ptr<RedisServer> redis_;
  static inline std::unique_ptr<testing::RedisCluster> cluster_;
  static inline int next_prefix_ = 0;
};

TEST_P(EngineTest, OffsetsCountFromOnePerTopicWithOneEpoch) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  TopicPosition a1 = PublishSync(*engine, "a");
  TopicPosition a2 = PublishSync(*engine, "a");
  TopicPosition b1 = PublishSync(*engine, "b");
  EXPECT_EQ(a1.offset, 1u);
  EXPECT_EQ(a2.offset, 2u);
  EXPECT_EQ(b1.offset, 1u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_FALSE(a1.epoch.empty());
  EXPECT_NE(a1.epoch, b1.epoch);
  EXPECT_EQ(RecoverSync(*engine, "a").position, a2);
}

TEST_P(EngineTest, ANewTopicIsCreatedBySubscribingAndStartsAtOffsetZero) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  TopicHistory first = RecoverSync(*engine, "new");
  EXPECT_FALSE(first.position.epoch.empty());
  EXPECT_EQ(first.position.offset, 0u);
  EXPECT_EQ(PublishSync(*engine, "new"), (TopicPosition{first.position.epoch, 1}));
}

TEST_P(EngineTest, EventsReachTheSinkWithEveryField) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  Follow(*engine, "shape");
  herald::v1::PublishRequest request = Request("shape", "{\"x\":1}");
  request.set_type("moved");
  request.set_content_type("application/json");
  (*request.mutable_meta())["from"] = "test";
  int64_t before = absl::ToUnixMillis(absl::Now());
  absl::StatusOr<TopicPosition> position = TryPublish(*engine, request);
  ASSERT_TRUE(position.ok()) << position.status();
  std::vector<herald::v1::Event> events = sink.WaitFor(1);
  ASSERT_EQ(events.size(), 1u);
  const herald::v1::Event& event = events[0];
  EXPECT_EQ(event.topic(), "shape");
  EXPECT_EQ(event.epoch(), position->epoch);
  EXPECT_EQ(event.offset(), 1u);
  EXPECT_EQ(event.type(), "moved");
  EXPECT_EQ(event.data(), "{\"x\":1}");
  EXPECT_EQ(event.content_type(), "application/json");
  EXPECT_EQ(event.meta().at("from"), "test");
  // Stamped when accepted (by the engine's clock: the process', or Redis').
  EXPECT_GE(event.time_unix_ms(), before - 5000);
  EXPECT_LE(event.time_unix_ms(), absl::ToUnixMillis(absl::Now()) + 5000);
  // History holds the same event.
  TopicHistory history = ReadHistorySync(*engine, "shape", 10);
  ASSERT_EQ(history.events.size(), 1u);
  EXPECT_EQ(history.events[0]->event().SerializeAsString(), event.SerializeAsString());
}

TEST_P(EngineTest, EphemeralEventsGetOffsetZeroAndStayOutOfHistory) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  Follow(*engine, "a");
  std::string epoch = PublishSync(*engine, "a").epoch;
  TopicPosition ephemeral = PublishSync(*engine, "a", /*ephemeral=*/true);
  EXPECT_EQ(ephemeral, (TopicPosition{epoch, 0}));
  EXPECT_EQ(PublishSync(*engine, "a").offset, 2u);
  EXPECT_EQ(Offsets(RecoverSync(*engine, "a", TopicPosition{epoch, 0})),
            (std::vector<uint64_t>{1, 2}));
  sink.WaitFor(3);
  EXPECT_EQ(sink.Offsets("a"), (std::vector<uint64_t>{1, 0, 2}));  // Live, it is delivered.
}

TEST_P(EngineTest, ConcurrentPublishersReachTheSinkInOffsetOrder) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  Follow(*engine, "hot");
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) PublishSync(*engine, "hot");
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  std::vector<herald::v1::Event> events = sink.WaitFor(800);
  ASSERT_EQ(events.size(), 800u);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].offset(), i + 1);
}

TEST_P(EngineTest, RecoversExactlyTheEventsAfterAPosition) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  std::string epoch = PublishSync(*engine, "a").epoch;
  for (int i = 0; i < 4; ++i) PublishSync(*engine, "a");
  TopicHistory history = RecoverSync(*engine, "a", TopicPosition{epoch, 2});
  EXPECT_TRUE(history.recovered);
  EXPECT_EQ(history.position, (TopicPosition{epoch, 5}));
  EXPECT_EQ(Offsets(history), (std::vector<uint64_t>{3, 4, 5}));
  TopicHistory up_to_date = RecoverSync(*engine, "a", TopicPosition{epoch, 5});
  EXPECT_TRUE(up_to_date.recovered);
  EXPECT_TRUE(up_to_date.events.empty());
  EXPECT_FALSE(RecoverSync(*engine, "a").recovered);  // Nothing asked, nothing replayed.
  EXPECT_TRUE(RecoverSync(*engine, "a").events.empty());
  TopicHistory other_epoch = RecoverSync(*engine, "a", TopicPosition{"elsewhere", 2});
  EXPECT_FALSE(other_epoch.recovered);
  EXPECT_TRUE(other_epoch.events.empty());
  EXPECT_EQ(other_epoch.position, (TopicPosition{epoch, 5}));
  EXPECT_FALSE(RecoverSync(*engine, "a", TopicPosition{epoch, 9}).recovered);  // Ahead.
}

TEST_P(EngineTest, TrimmedHistoryIsNotRecoveredAndNeverPartlyReplayed) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink, /*history_size=*/3);
  std::string epoch = PublishSync(*engine, "a").epoch;
  for (int i = 0; i < 5; ++i) PublishSync(*engine, "a");  // Keeps 4, 5, 6.
  TopicHistory lost = RecoverSync(*engine, "a", TopicPosition{epoch, 2});
  EXPECT_FALSE(lost.recovered);
  EXPECT_TRUE(lost.events.empty());
  EXPECT_EQ(lost.position.offset, 6u);
  EXPECT_EQ(Offsets(RecoverSync(*engine, "a", TopicPosition{epoch, 3})),
            (std::vector<uint64_t>{4, 5, 6}));
}

TEST_P(EngineTest, NoHistoryKeepsPositionsButRecoversOnlyTheUpToDate) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink, /*history_size=*/0);
  std::string epoch = PublishSync(*engine, "a").epoch;
  EXPECT_EQ(PublishSync(*engine, "a").offset, 2u);
  EXPECT_FALSE(RecoverSync(*engine, "a", TopicPosition{epoch, 1}).recovered);
  EXPECT_TRUE(RecoverSync(*engine, "a", TopicPosition{epoch, 2}).recovered);
  EXPECT_TRUE(ReadHistorySync(*engine, "a", 10).events.empty());
}

TEST_P(EngineTest, EachTopicKeepsTheHistoryItsRuleSaysAndAReloadAppliesAtItsNextPublish) {
  char dir[] = "/tmp/herald-rules-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = absl::StrCat(dir, "/rules.yaml");
  std::ofstream(path) << "- pattern: ticker.>\n  history_size: 1\n"
                         "- pattern: chat.>\n  history_size: 3\n"
                         "- pattern: brief.>\n  history_ttl: 1s\n";
  TopicRule defaults;
  defaults.history_size = 100;
  auto rules = std::make_shared<TopicRulesStore>(path, defaults);
  ASSERT_TRUE(rules->Load().ok());
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink, /*history_size=*/100, rules);
  for (const char* topic : {"ticker.eur", "chat.lobby", "orders.new", "brief.flash"}) {
    for (int i = 0; i < 5; ++i) PublishSync(*engine, topic);
  }
  EXPECT_EQ(Offsets(ReadHistorySync(*engine, "ticker.eur", 10)), (std::vector<uint64_t>{5}));
  EXPECT_EQ(Offsets(ReadHistorySync(*engine, "chat.lobby", 10)), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(ReadHistorySync(*engine, "orders.new", 10).events.size(), 5u);
  EXPECT_EQ(ReadHistorySync(*engine, "brief.flash", 10).events.size(), 5u);

  std::ofstream(path) << "- pattern: chat.>\n  history_size: 2\n"
                         "- pattern: brief.>\n  history_ttl: 1s\n";
  ASSERT_TRUE(rules->Load().ok());
  PublishSync(*engine, "chat.lobby");
  EXPECT_EQ(Offsets(ReadHistorySync(*engine, "chat.lobby", 10)), (std::vector<uint64_t>{5, 6}));
  // ticker.> has no rule any more: it keeps the default from its next publish on.
  PublishSync(*engine, "ticker.eur");
  EXPECT_EQ(Offsets(ReadHistorySync(*engine, "ticker.eur", 10)), (std::vector<uint64_t>{5, 6}));

  // brief.flash was published under a TTL of 1 s: its history is gone after it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_TRUE(ReadHistorySync(*engine, "brief.flash", 10).events.empty());
  std::filesystem::remove_all(dir);
}

TEST_P(EngineTest, RemovedHistoryKeepsThePositionAndIsNotRecovered) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  std::string epoch = PublishSync(*engine, "a").epoch;
  PublishSync(*engine, "a");
  PublishSync(*engine, "a");
  absl::Notification removed;
  absl::Status status;
  engine->RemoveHistory("a", [&](absl::Status result) {
    status = result;
    removed.Notify();
  });
  ASSERT_TRUE(removed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(status.ok()) << status;
  TopicHistory read = ReadHistorySync(*engine, "a", 10);
  EXPECT_TRUE(read.events.empty());
  EXPECT_EQ(read.position, (TopicPosition{epoch, 3}));
  EXPECT_FALSE(RecoverSync(*engine, "a", TopicPosition{epoch, 1}).recovered);
  EXPECT_TRUE(RecoverSync(*engine, "a", TopicPosition{epoch, 3}).recovered);
  EXPECT_EQ(PublishSync(*engine, "a"), (TopicPosition{epoch, 4}));
  EXPECT_EQ(Offsets(RecoverSync(*engine, "a", TopicPosition{epoch, 3})), (std::vector<uint64_t>{4}));
}

TEST_P(EngineTest, ARepeatedIdempotencyKeyIsDeliveredOnce) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  Follow(*engine, "a");
  TopicPosition first = PublishSync(*engine, "a", false, "order-1");
  PublishSync(*engine, "a");
  EXPECT_EQ(PublishSync(*engine, "a", false, "order-1"), first);
  EXPECT_EQ(PublishSync(*engine, "b", false, "order-1").offset, 1u);  // Keys are per topic.
  EXPECT_EQ(PublishSync(*engine, "a").offset, 3u);
  sink.WaitFor(3);
  EXPECT_EQ(sink.Offsets("a"), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_P(EngineTest, ReadHistoryReturnsTheLastEvents) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  for (int i = 0; i < 5; ++i) PublishSync(*engine, "a");
  TopicHistory history = ReadHistorySync(*engine, "a", 2);
  EXPECT_EQ(history.position.offset, 5u);
  EXPECT_EQ(Offsets(history), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(Offsets(ReadHistorySync(*engine, "a", 100)), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

TEST_P(EngineTest, ReadingAnUnknownTopicsHistoryCreatesNothing) {
  RecordingSink sink;
  std::unique_ptr<Engine> engine = MakeEngine(sink);
  TopicHistory unknown = ReadHistorySync(*engine, "scan.1", 10);
  EXPECT_EQ(unknown.position, (TopicPosition{"", 0}));
  EXPECT_EQ(ReadHistorySync(*engine, "scan.1", 10).position, (TopicPosition{"", 0}));
  // "Nothing seen" from before the topic existed recovers its first events.
  PublishSync(*engine, "late");
  PublishSync(*engine, "late");
  TopicHistory recovered = RecoverSync(*engine, "late", TopicPosition{"", 0});
  EXPECT_TRUE(recovered.recovered);
  EXPECT_EQ(Offsets(recovered), (std::vector<uint64_t>{1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest,
                         ::testing::Values(EngineKind::kMemory, EngineKind::kRedis,
                                           EngineKind::kRedisCluster),
                         [](const ::testing::TestParamInfo<EngineKind>& info) {
                           switch (info.param) {
                             case EngineKind::kMemory:
                               return "Memory";
                             case EngineKind::kRedis:
                               return "Redis";
                             case EngineKind::kRedisCluster:
                               return "RedisCluster";
                           }
                           return "";
                         });

}  // namespace
}  // namespace herald
