// What only the Redis engine does: nodes sharing one sequence, and Redis going away.
#include "engine/redis_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/engine_test_support.h"
#include "support/redis_server.h"

namespace herald {
namespace {

using testing::RedisServer;


absl::StatusOr<TopicPosition> Publish(Engine& engine, const std::string& topic,
                                      const std::string& idempotency_key = "") {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_data("x");
  request.set_idempotency_key(idempotency_key);
  return TryPublish(engine, request);
}

absl::StatusOr<TopicHistory> Recover(Engine& engine, const std::string& topic) {
  return WaitForHistory([&](Engine::HistoryCallback done) {
    engine.Recover(topic, std::nullopt, "test-subscriber", std::move(done));
  });
}

// Follows `topic` as the hub does for its first subscriber.
void Follow(Engine& engine, const std::string& topic) {
  engine.SetInterest(topic, true);
  ASSERT_TRUE(Recover(engine, topic).ok());
}

class RedisEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    redis_ = RedisServer::Start(&error);
    ASSERT_NE(redis_, nullptr) << error;
  }

  std::unique_ptr<RedisEngine> Node(EventSink& sink, size_t history_size = 1000) {
    RedisEngineOptions options;
    options.address = *ParseRedisAddress(redis_->url());
    options.history_size = history_size;
    options.timeout = absl::Seconds(1);
    auto engine = std::make_unique<RedisEngine>(sink, options);
    EXPECT_TRUE(WaitUntil([&] { return engine->ready(); }));
    return engine;
  }

  std::unique_ptr<RedisServer> redis_;
};

std::vector<TopicPosition> Sequence(const std::string& epoch, uint64_t first, uint64_t last) {
  std::vector<TopicPosition> positions;
  for (uint64_t offset = first; offset <= last; ++offset) positions.push_back({epoch, offset});
  return positions;
}

TEST_F(RedisEngineTest, NodesShareOneSequencePerTopicAndEveryEvent) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  Follow(*b, "chat");
  std::string epoch;
  for (uint64_t i = 1; i <= 50; ++i) {
    absl::StatusOr<TopicPosition> position = Publish(i % 2 ? *a : *b, "chat");
    ASSERT_TRUE(position.ok()) << position.status();
    EXPECT_EQ(position->offset, i);
    if (epoch.empty()) epoch = position->epoch;
    EXPECT_EQ(position->epoch, epoch);
  }
  EXPECT_EQ(Positions(sink_b.WaitFor(50)), Sequence(epoch, 1, 50));
  EXPECT_TRUE(Positions(sink_a.WaitFor(0)).empty());  // Node a follows nothing: it receives nothing.
  // An idempotency key is one key for all nodes.
  absl::StatusOr<TopicPosition> first = Publish(*a, "chat", "once");
  absl::StatusOr<TopicPosition> again = Publish(*b, "chat", "once");
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(Positions(sink_b.WaitFor(51)).size(), 51u);
}

TEST_F(RedisEngineTest, UnfollowingStopsTheEventsAndFollowingAgainResumesThem) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  Follow(*b, "t");
  ASSERT_TRUE(Publish(*a, "t").ok());
  ASSERT_EQ(Positions(sink_b.WaitFor(1)).size(), 1u);
  b->SetInterest("t", false);
  // Unfollowed and followed again at once: the node ends subscribed, whatever the order the
  // confirmations come back in.
  b->SetInterest("t", true);
  b->SetInterest("t", false);
  ASSERT_TRUE(WaitUntil([&] { return redis_->Cli({"PUBSUB", "SHARDNUMSUB", "herald:{t}"}) ==
                                     "herald:{t}\n0"; }));
  ASSERT_TRUE(Publish(*a, "t").ok());  // Offset 2: not for b.
  Follow(*b, "t");
  absl::StatusOr<TopicPosition> third = Publish(*a, "t");
  ASSERT_TRUE(third.ok());
  std::vector<TopicPosition> seen = Positions(sink_b.WaitFor(2));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], *third);
}

TEST_F(RedisEngineTest, PublishesFailFastWhileRedisIsDownAndGoOnWhenItIsBack) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  Follow(*b, "t");
  absl::StatusOr<TopicPosition> before = Publish(*a, "t");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(Positions(sink_b.WaitFor(1)).size(), 1u);
  redis_->Kill();
  ASSERT_TRUE(WaitUntil([&] { return !a->ready() && !b->ready(); }));
  absl::StatusOr<TopicPosition> refused = Publish(*a, "t");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(Recover(*a, "t").status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(redis_->Restart());
  ASSERT_TRUE(WaitUntil([&] { return a->ready() && b->ready(); }));
  // The restarted Redis kept nothing: the topic starts again, in a new epoch.
  absl::StatusOr<TopicPosition> after = Publish(*a, "t");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->offset, 1u);
  EXPECT_NE(after->epoch, before->epoch);
  // b subscribed again by itself, and receives the new epoch's events.
  std::vector<TopicPosition> seen = Positions(sink_b.WaitFor(2));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], *after);
}

TEST_F(RedisEngineTest, AStuckRedisFailsPublishesWithinTheTimeout) {
  RecordingSink sink;
  std::unique_ptr<RedisEngine> a = Node(sink);
  ASSERT_TRUE(Publish(*a, "t").ok());
  redis_->Freeze();
  absl::StatusOr<TopicPosition> stuck = Publish(*a, "t");
  EXPECT_EQ(stuck.status().code(), absl::StatusCode::kUnavailable) << stuck.status();
  EXPECT_TRUE(WaitUntil([&] { return !a->ready(); }));
  redis_->Thaw();
  ASSERT_TRUE(WaitUntil([&] { return a->ready(); }));
  absl::StatusOr<TopicPosition> after = Publish(*a, "t");
  ASSERT_TRUE(after.ok()) << after.status();
  // The stuck publish may or may not have run when Redis woke up; nothing else did.
  EXPECT_GE(after->offset, 2u);
  EXPECT_LE(after->offset, 3u);
}

TEST_F(RedisEngineTest, AFollowerFillsWhatItMissedWhileItsSubscriptionWasCut) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  Follow(*b, "t");
  constexpr uint64_t kEvents = 400;
  std::string epoch;
  std::thread publisher([&] {
    for (uint64_t i = 1; i <= kEvents; ++i) {
      absl::StatusOr<TopicPosition> position = Publish(*a, "t");
      ASSERT_TRUE(position.ok()) << position.status();
      if (i == 1) epoch = position->epoch;
      absl::SleepFor(absl::Microseconds(500));
    }
  });
  // Cut every subscriber connection (b's) a few times while events flow.
  for (int cut = 0; cut < 4; ++cut) {
    absl::SleepFor(absl::Milliseconds(40));
    redis_->Cli({"CLIENT", "KILL", "TYPE", "pubsub"});
  }
  publisher.join();
  std::vector<TopicPosition> seen = Positions(sink_b.WaitFor(kEvents));
  EXPECT_EQ(seen, Sequence(epoch, 1, kEvents));
  EXPECT_EQ(b->gaps_lost(), 0u);
}

TEST_F(RedisEngineTest, AQuietTopicsFollowerFillsFromWhereItsSubscribersStarted) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  Follow(*b, "quiet");  // A subscriber starts at offset 0; nothing delivered yet.
  // b's subscription is cut; the events published before it is made again come from history.
  redis_->Cli({"CLIENT", "KILL", "TYPE", "pubsub"});
  std::string epoch;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<TopicPosition> position = Publish(*a, "quiet");
    ASSERT_TRUE(position.ok()) << position.status();
    epoch = position->epoch;
  }
  EXPECT_EQ(Positions(sink_b.WaitFor(3)), Sequence(epoch, 1, 3));
  EXPECT_EQ(b->gaps_lost(), 0u);
}

TEST_F(RedisEngineTest, AGapHistoryNoLongerHoldsIsReportedLostBeforeTheNextEvent) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a, /*history_size=*/2);
  std::unique_ptr<RedisEngine> b = Node(sink_b, /*history_size=*/2);
  Follow(*b, "busy");
  absl::StatusOr<TopicPosition> first = Publish(*a, "busy");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(Positions(sink_b.WaitFor(1)).size(), 1u);
  // While b's subscription is down, more is published than history keeps.
  redis_->Cli({"CLIENT", "KILL", "TYPE", "pubsub"});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Publish(*a, "busy").ok());
  ASSERT_TRUE(WaitUntil([&] { return b->gaps_lost() == 1; }));
  EXPECT_EQ(sink_b.lost(), (std::vector<std::string>{"busy"}));
  // It goes on live from there.
  absl::StatusOr<TopicPosition> next = Publish(*a, "busy");
  ASSERT_TRUE(next.ok());
  std::vector<TopicPosition> seen = Positions(sink_b.WaitFor(2));
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.back(), *next);
}

// A master and its replica, for the failover tests: the engine's Redis is the master.
class RedisFailoverTest : public RedisEngineTest {
 protected:
  void SetUp() override {
    RedisEngineTest::SetUp();
    if (HasFatalFailure()) return;
    std::string error;
    replica_ = redis_->StartReplica(&error);
    ASSERT_NE(replica_, nullptr) << error;
  }

  std::unique_ptr<RedisEngine> Node(EventSink& sink, int wait_replicas) {
    RedisEngineOptions options;
    options.address = *ParseRedisAddress(redis_->url());
    options.timeout = absl::Seconds(1);
    options.wait_replicas = wait_replicas;
    auto engine = std::make_unique<RedisEngine>(sink, options);
    EXPECT_TRUE(WaitUntil([&] { return engine->ready(); }));
    return engine;
  }

  std::unique_ptr<RedisServer> replica_;
};

TEST_F(RedisFailoverTest, APromotedReplicaThatMissedPublishesStartsANewEpoch) {
  RecordingSink sink;
  std::unique_ptr<RedisEngine> engine = Node(sink, /*wait_replicas=*/0);
  Follow(*engine, "t");
  absl::StatusOr<TopicPosition> first = Publish(*engine, "t");
  ASSERT_TRUE(first.ok()) << first.status();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Publish(*engine, "t").ok());
  ASSERT_TRUE(WaitUntil([&] { return redis_->ReplicaHasEverything(); }));
  // The replica stops following: the next two publishes are acknowledged and delivered, and
  // the replica never gets them.
  ASSERT_EQ(replica_->Cli({"REPLICAOF", "NO", "ONE"}), "OK");
  ASSERT_TRUE(Publish(*engine, "t").ok());
  absl::StatusOr<TopicPosition> last_before = Publish(*engine, "t");
  ASSERT_TRUE(last_before.ok());
  EXPECT_EQ(*last_before, (TopicPosition{first->epoch, 7}));
  ASSERT_EQ(Positions(sink.WaitFor(7)), Sequence(first->epoch, 1, 7));
  ASSERT_TRUE(redis_->FailOverTo(*replica_));

  // The replica's topic ends at offset 5: its next publish would have been 6 again, a new event
  // every follower takes for the 6 it has. It starts a new epoch instead.
  absl::StatusOr<TopicPosition> after = absl::UnavailableError("not tried");
  ASSERT_TRUE(WaitUntil([&] {
    after = Publish(*engine, "t");
    return after.ok();
  })) << after.status();
  EXPECT_NE(after->epoch, first->epoch);
  EXPECT_EQ(after->offset, 1u);
  ASSERT_TRUE(WaitUntil([&] { return !sink.events().empty() && sink.events().back().epoch() == after->epoch; }));
  std::vector<herald::v1::Event> seen = sink.events();
  EXPECT_EQ(seen.back().offset(), 1u);
  // A subscriber back from 7 is told it was not recovered, and continues from the new epoch.
  absl::StatusOr<TopicHistory> recovered = WaitForHistory([&](Engine::HistoryCallback done) {
    engine->Recover("t", *last_before, "test-subscriber", std::move(done));
  });
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_FALSE(recovered->recovered);
  EXPECT_EQ(recovered->position, *after);
  // The new epoch goes on as any other.
  absl::StatusOr<TopicPosition> next = Publish(*engine, "t");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, (TopicPosition{after->epoch, 2}));
}

TEST_F(RedisFailoverTest, AReplicaIsNotUsedUntilItIsPromoted) {
  RecordingSink sink;
  RedisEngineOptions options;
  options.address = *ParseRedisAddress(replica_->url());
  options.timeout = absl::Seconds(1);
  RedisEngine engine(sink, options);
  absl::StatusOr<TopicPosition> refused = Publish(engine, "t");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(engine.ready());
  ASSERT_EQ(replica_->Cli({"REPLICAOF", "NO", "ONE"}), "OK");
  EXPECT_TRUE(WaitUntil([&] { return engine.ready(); }));
  EXPECT_TRUE(Publish(engine, "t").ok());
}

TEST_F(RedisFailoverTest, AMasterMadeAReplicaIsLeftUntilItIsAMasterAgain) {
  RecordingSink sink;
  std::unique_ptr<RedisEngine> engine = Node(sink, /*wait_replicas=*/0);
  absl::StatusOr<TopicPosition> first = Publish(*engine, "t");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(WaitUntil([&] { return redis_->ReplicaHasEverything(); }));
  ASSERT_EQ(replica_->Cli({"REPLICAOF", "NO", "ONE"}), "OK");
  ASSERT_EQ(redis_->Cli({"REPLICAOF", "127.0.0.1", std::to_string(replica_->port())}), "OK");
  // Its connection is left within a tick, or at the first write it refuses (READONLY).
  ASSERT_TRUE(WaitUntil([&] { return !engine->ready(); }));
  EXPECT_EQ(Publish(*engine, "t").status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(WaitUntil([&] {
    return absl::StrContains(redis_->Cli({"INFO", "replication"}), "master_link_status:up");
  }));
  ASSERT_EQ(redis_->Cli({"REPLICAOF", "NO", "ONE"}), "OK");
  ASSERT_TRUE(WaitUntil([&] { return engine->ready(); }));
  // The same process, with what the replica had: the topic goes on.
  absl::StatusOr<TopicPosition> again = Publish(*engine, "t");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, (TopicPosition{first->epoch, 2}));
}

TEST_F(RedisFailoverTest, WithWaitReplicasAnAcknowledgedPublishIsOnTheReplica) {
  // Declared before the engine, which may still answer into them on a failed assertion.
  absl::Notification answered_once;
  absl::StatusOr<TopicPosition> held = absl::UnknownError("no answer");
  constexpr int kPublishes = 50;
  std::vector<absl::StatusOr<TopicPosition>> results(kPublishes, absl::UnknownError(""));
  std::atomic<int> answered{0};
  RecordingSink sink;
  RedisEngineOptions options;
  options.address = *ParseRedisAddress(redis_->url());
  options.timeout = absl::Seconds(4);  // WAIT gives up after 2 s.
  options.wait_replicas = 1;
  auto engine = std::make_unique<RedisEngine>(sink, options);
  ASSERT_TRUE(WaitUntil([&] { return engine->ready(); }));

  // An answer waits for the replica: a frozen one holds it back until it thaws.
  replica_->Freeze();
  herald::v1::PublishRequest request;
  request.set_topic("t");
  request.set_data("x");
  engine->Publish(request, "test-publisher", [&](absl::StatusOr<TopicPosition> position) {
    held = std::move(position);
    answered_once.Notify();
  });
  EXPECT_FALSE(answered_once.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  replica_->Thaw();
  ASSERT_TRUE(answered_once.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->offset, 1u);
  // Many at once share WAITs, and each is answered.
  auto wait_calls = [&] {
    std::optional<absl::string_view> stats =
        InfoField(redis_->Cli({"INFO", "commandstats"}), "cmdstat_wait");
    int calls = 0;
    if (stats) absl::SimpleAtoi(stats->substr(6, stats->find(',') - 6), &calls);  // calls=N,...
    return calls;
  };
  int waits_before = wait_calls();
  for (int i = 0; i < kPublishes; ++i) {
    engine->Publish(request, "test-publisher", [&, i](absl::StatusOr<TopicPosition> position) {
      results[i] = std::move(position);
      answered.fetch_add(1);
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return answered.load() == kPublishes; }));
  for (const absl::StatusOr<TopicPosition>& result : results) EXPECT_TRUE(result.ok()) << result.status();
  int waits = wait_calls() - waits_before;
  EXPECT_GT(waits, 0);
  EXPECT_LT(waits, kPublishes / 2);

  // Without its replica, a publish is refused once WAIT gives up (half the Redis timeout)...
  ASSERT_EQ(replica_->Cli({"REPLICAOF", "NO", "ONE"}), "OK");
  absl::Time start = absl::Now();
  absl::StatusOr<TopicPosition> refused = Publish(*engine, "t", "key-1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "reached 0 of the 1 replicas"))
      << refused.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // (an ephemeral event has nothing to lose, and does not wait)...
  request.set_ephemeral(true);
  EXPECT_TRUE(TryPublish(*engine, request).ok());
  // ...and its retry, once the replica is back, is answered with the position it took.
  ASSERT_EQ(replica_->Cli({"REPLICAOF", "127.0.0.1", std::to_string(redis_->port())}), "OK");
  absl::StatusOr<TopicPosition> retried = absl::UnavailableError("not tried");
  ASSERT_TRUE(WaitUntil([&] {
    retried = Publish(*engine, "t", "key-1");
    return retried.ok();
  })) << retried.status();
  EXPECT_EQ(retried->offset, kPublishes + 2u);
  EXPECT_EQ(replica_->Cli({"HGET", "herald:{t}:meta", "offset"}), std::to_string(kPublishes + 2));
}

TEST_F(RedisEngineTest, AReplicaAddedLaterChangesNoEpoch) {
  RecordingSink sink;
  std::unique_ptr<RedisEngine> engine = Node(sink);
  absl::StatusOr<TopicPosition> first = Publish(*engine, "t");
  ASSERT_TRUE(first.ok()) << first.status();
  // Its first replica gives a master a new replication id: the master is the same.
  std::string error;
  std::unique_ptr<RedisServer> replica = redis_->StartReplica(&error);
  ASSERT_NE(replica, nullptr) << error;
  absl::SleepFor(absl::Milliseconds(300));  // A tick: the node checks the server's role again.
  absl::StatusOr<TopicPosition> second = Publish(*engine, "t");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, (TopicPosition{first->epoch, 2}));
}

TEST(RedisServerId, IsTheStartOfTheRunId) {
  EXPECT_EQ(RedisServerId("# Server\r\nredis_version:7.0.15\r\n"
                          "run_id:5a6b7c8d9e0f11223344556677889900aabbccdd\r\ntcp_port:6379\r\n"),
            "5a6b7c8d9e0f1122");
  EXPECT_EQ(RedisServerId("redis_version:7.0.15\r\n"), std::nullopt);
  EXPECT_EQ(RedisServerId("run_id:short\r\n"), std::nullopt);
  EXPECT_EQ(InfoField("a:1\r\nab:2\r\n", "ab"), "2");
  EXPECT_EQ(InfoField("ab:2\r\n", "a"), std::nullopt);
}

TEST(RedisServerId, OnlyAMasterWillDo) {
  EXPECT_TRUE(CheckMaster("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n").ok());
  absl::Status replica = CheckMaster("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.5\r\n");
  EXPECT_EQ(replica.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(replica.message(), "not a master (role:slave)")) << replica;
  EXPECT_FALSE(CheckMaster("").ok());
}

TEST_F(RedisEngineTest, AnUnreachableRedisIsNotReadyAndRefusesPublishes) {
  RecordingSink sink;
  RedisEngineOptions options;
  options.address = *ParseRedisAddress(
      "redis://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort()));
  options.timeout = absl::Seconds(1);
  RedisEngine engine(sink, options);
  absl::StatusOr<TopicPosition> refused = Publish(engine, "t");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_FALSE(engine.ready());
}

class RedisClusterEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    cluster_ = testing::RedisCluster::Start(3, &error);
    ASSERT_NE(cluster_, nullptr) << error;
  }

  std::unique_ptr<RedisEngine> Node(EventSink& sink) {
    RedisEngineOptions options;
    options.address = *ParseRedisAddress(cluster_->url());
    options.timeout = absl::Seconds(2);
    auto engine = std::make_unique<RedisEngine>(sink, options);
    EXPECT_TRUE(WaitUntil([&] { return engine->ready(); }));
    return engine;
  }

  // Moves `slot`, with its keys, to `to`, as `redis-cli --cluster reshard` does. With
  // `while_migrating`, runs it after the keys moved and before the slot does (the old owner
  // then answers ASK).
  void MoveSlot(uint16_t slot, RedisServer& to, const std::function<void()>& while_migrating = {}) {
    RedisServer* from = cluster_->OwnerOf(slot);
    ASSERT_NE(from, nullptr);
    ASSERT_NE(from, &to);
    std::string slot_text = std::to_string(slot);
    ASSERT_EQ(to.Cli({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", cluster_->IdOf(*from)}), "OK");
    ASSERT_EQ(from->Cli({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", cluster_->IdOf(to)}), "OK");
    std::string keys = from->Cli({"CLUSTER", "GETKEYSINSLOT", slot_text, "1000"});
    std::vector<std::string> migrate = {"MIGRATE", "127.0.0.1", std::to_string(to.port()), "",
                                        "0", "5000", "KEYS"};
    size_t count = 0;
    for (absl::string_view key : absl::StrSplit(keys, '\n', absl::SkipEmpty())) {
      migrate.emplace_back(key);
      ++count;
    }
    if (count > 0) {
      ASSERT_EQ(from->Cli(migrate), "OK");
    }
    if (while_migrating) while_migrating();
    for (size_t i = 0; i < cluster_->size(); ++i) {
      cluster_->node(i).Cli({"CLUSTER", "SETSLOT", slot_text, "NODE", cluster_->IdOf(to)});
    }
    ASSERT_EQ(cluster_->OwnerOf(slot), &to);
  }

  std::unique_ptr<testing::RedisCluster> cluster_;
};

TEST_F(RedisClusterEngineTest, APublishThatFollowsMovedToAMovedSlotKeepsTheEpoch) {
  RecordingSink sink;
  std::unique_ptr<RedisEngine> a = Node(sink);
  const std::string topic = "moved.quietly";
  const uint16_t slot = RedisSlot("herald:{" + topic + "}");
  absl::StatusOr<TopicPosition> first = Publish(*a, topic);
  ASSERT_TRUE(first.ok()) << first.status();
  RedisServer* from = cluster_->OwnerOf(slot);
  RedisServer* to = from == &cluster_->node(0) ? &cluster_->node(1) : &cluster_->node(0);
  MoveSlot(slot, *to);
  // Node a's slot map is old: the old owner answers MOVED, and the new one has the topic as
  // it was, written by a master that is still there.
  absl::StatusOr<TopicPosition> second = Publish(*a, topic);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, (TopicPosition{first->epoch, 2}));
}

TEST_F(RedisClusterEngineTest, TopicsSpreadOverEveryMasterReachEveryNode) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  constexpr int kTopics = 30;
  std::set<RedisServer*> owners;
  for (int i = 0; i < kTopics; ++i) {
    std::string topic = "room." + std::to_string(i);
    owners.insert(cluster_->OwnerOf(RedisSlot("herald:{" + topic + "}")));
    Follow(*b, topic);
  }
  EXPECT_EQ(owners.size(), 3u);  // The topics live on every master.
  for (int round = 1; round <= 2; ++round) {
    for (int i = 0; i < kTopics; ++i) {
      absl::StatusOr<TopicPosition> position = Publish(*a, "room." + std::to_string(i));
      ASSERT_TRUE(position.ok()) << position.status();
      EXPECT_EQ(position->offset, static_cast<uint64_t>(round));
    }
  }
  EXPECT_EQ(Positions(sink_b.WaitFor(2 * kTopics)).size(), 2u * kTopics);
  // Each master carries only its own topics' messages (sharded pub/sub).
  for (size_t i = 0; i < cluster_->size(); ++i) {
    std::string channels = cluster_->node(i).Cli({"PUBSUB", "SHARDCHANNELS"});
    EXPECT_FALSE(channels.empty());
    for (absl::string_view channel : absl::StrSplit(channels, '\n', absl::SkipEmpty())) {
      EXPECT_EQ(cluster_->OwnerOf(RedisSlot(channel)), &cluster_->node(i)) << channel;
    }
  }
}

TEST_F(RedisClusterEngineTest, ASlotMovedToAnotherMasterIsFollowedWithNothingLost) {
  RecordingSink sink_a, sink_b;
  std::unique_ptr<RedisEngine> a = Node(sink_a);
  std::unique_ptr<RedisEngine> b = Node(sink_b);
  const std::string topic = "moving";
  const uint16_t slot = RedisSlot("herald:{" + topic + "}");
  Follow(*b, topic);
  absl::StatusOr<TopicPosition> first = Publish(*a, topic);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(Positions(sink_b.WaitFor(1)).size(), 1u);

  RedisServer* from = cluster_->OwnerOf(slot);
  RedisServer* to = from == &cluster_->node(0) ? &cluster_->node(1) : &cluster_->node(0);
  // Mid-migration the old owner answers ASK (the keys are gone): a publishes on the new one.
  absl::StatusOr<TopicPosition> second;
  MoveSlot(slot, *to, [&] { second = Publish(*a, topic); });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(to->Cli({"INFO", "commandstats"}).find("cmdstat_asking:"), std::string::npos);
  EXPECT_EQ(*second, (TopicPosition{first->epoch, 2}));
  // Node a still routes by its old map: MOVED takes it to the new owner, history and all.
  absl::StatusOr<TopicPosition> moved = Publish(*a, topic);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, (TopicPosition{first->epoch, 3}));
  // Node b was unsubscribed by the old owner: it follows the topic on the new one, and reads
  // what it missed meanwhile.
  ASSERT_TRUE(WaitUntil([&] {
    return to->Cli({"PUBSUB", "SHARDNUMSUB", "herald:{moving}"}) == "herald:{moving}\n1";
  }));
  absl::StatusOr<TopicPosition> fourth = Publish(*a, topic);
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  EXPECT_EQ(Positions(sink_b.WaitFor(4)), Sequence(first->epoch, 1, 4));
}

TEST(RedisMajorVersion, ReadsInfoServer) {
  EXPECT_EQ(RedisMajorVersion("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"), 7);
  EXPECT_EQ(RedisMajorVersion("redis_version:6.2.14\r\n"), 6);
  EXPECT_EQ(RedisMajorVersion("# Server\r\nredis_mode:standalone\r\n"), std::nullopt);
}

TEST(RedisSlot, IsRedisClusterKeySlot) {
  EXPECT_EQ(RedisSlot("123456789"), 0x31C3);  // The CRC16 check value Redis documents.
  EXPECT_EQ(RedisSlot("herald:{chat.lobby}:meta"), RedisSlot("chat.lobby"));
  EXPECT_EQ(RedisSlot("herald:{chat.lobby}"), RedisSlot("herald:{chat.lobby}:log"));
  EXPECT_EQ(RedisSlot("a{}b"), RedisSlot("a{}b"));  // An empty tag: the whole key counts.
  EXPECT_NE(RedisSlot("a{}b"), RedisSlot(""));
}

TEST(RedisAddress, ParsesTheFormsOperatorsWrite) {
  absl::StatusOr<RedisAddress> plain = ParseRedisAddress("redis://cache.internal");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->endpoints, (std::vector<RedisEndpoint>{{"cache.internal", 6379}}));
  absl::StatusOr<RedisAddress> full = ParseRedisAddress("redis://app:p%40ss@10.0.0.5:6380/2");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->username, "app");
  EXPECT_EQ(full->password, "p@ss");
  EXPECT_EQ(full->database, 2);
  EXPECT_EQ(full->Describe(), "redis://app:***@10.0.0.5:6380/2");
  absl::StatusOr<RedisAddress> secret = ParseRedisAddress("redis://:hunter2@[::1]:7000");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->password, "hunter2");
  EXPECT_EQ(secret->endpoints, (std::vector<RedisEndpoint>{{"::1", 7000}}));
  absl::StatusOr<RedisAddress> cluster = ParseRedisAddress("redis+cluster://a:7000,b:7001");
  ASSERT_TRUE(cluster.ok());
  EXPECT_TRUE(cluster->cluster);
  EXPECT_EQ(cluster->endpoints.size(), 2u);
  for (const char* bad : {"redis:/x", "http://h:1", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h:1/x", "redis://a:1,b:2", "redis+cluster://a:1/3",
                          "redis://h:1?db=2", "redis://%zz@h", "redis://[::1"}) {
    EXPECT_FALSE(ParseRedisAddress(bad).ok()) << bad;
  }
}

TEST(RedisAddress, AnErrorNeverShowsThePassword) {
  for (const char* bad : {"redis://:hunter2@h:99999", "redis://app:hunter2@h:1/x",
                          "redis://:hunter2@a:1,b:2", "redis+cluster://:hunter2@a:1/3",
                          "redis://:hunt@er2@h:0", "rediss://:hunter2@h", "redis://:hunter2@",
                          "redis://:hun/ter2@h:0", "redis://:hun#ter2@h", "redis://:h?unter2@h:1/x"}) {
    absl::StatusOr<RedisAddress> address = ParseRedisAddress(bad);
    ASSERT_FALSE(address.ok()) << bad;
    EXPECT_EQ(address.status().message().find("hunter2"), absl::string_view::npos)
        << address.status().message();
    EXPECT_EQ(address.status().message().find("er2"), absl::string_view::npos)
        << address.status().message();
    EXPECT_NE(address.status().message().find("***@"), absl::string_view::npos)
        << address.status().message();
  }
}

}  // namespace
}  // namespace herald
