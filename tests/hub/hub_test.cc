// Hub fan-out through shards, with fake subscribers and loops run by hand.
#include "hub/hub.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>

#include "engine/memory_engine.h"
#include "hub/fake_subscriber.h"

namespace herald {
namespace {

// Loops whose posted tasks run only when the test says so.
class ManualLoops {
 public:
  explicit ManualLoops(size_t count) : queues_(count) {}

  // One test thread plays every loop: it is always on the loop.
  std::vector<HubLoop> HubLoops() {
    std::vector<HubLoop> loops;
    for (size_t i = 0; i < queues_.size(); ++i) {
      loops.push_back({.post = [this, i](std::function<void()> task) {
                         queues_[i].push_back(std::move(task));
                       },
                       .runs_here = [] { return true; }});
    }
    return loops;
  }

  size_t pending(size_t loop) const { return queues_[loop].size(); }

  void RunAll() {
    for (bool ran = true; ran;) {
      ran = false;
      for (std::deque<std::function<void()>>& queue : queues_) {
        while (!queue.empty()) {
          std::function<void()> task = std::move(queue.front());
          queue.pop_front();
          task();
          ran = true;
        }
      }
    }
  }

 private:
  std::vector<std::deque<std::function<void()>>> queues_;
};

class HubTest : public ::testing::Test {
 protected:
  HubTest() { hub_.set_engine(&engine_); }

  TopicPosition Publish(const std::string& topic, int count = 1, bool ephemeral = false) {
    TopicPosition last;
    for (int i = 0; i < count; ++i) {
      herald::v1::PublishRequest request;
      request.set_topic(topic);
      request.set_data("x");
      request.set_ephemeral(ephemeral);
      engine_.Publish(request, "test-publisher",
                      [&](absl::StatusOr<TopicPosition> position) { last = *position; });
    }
    return last;
  }

  // Subscribes and runs the loops until the subscription is live; returns its result.
  SubscribedTopic Subscribe(size_t shard, const std::string& topic,
                                        FakeSubscriber* subscriber,
                                        std::optional<TopicPosition> since = std::nullopt) {
    SubscribedTopic result;
    hub_.Subscribe(shard, subscriber, {{topic, since}},
                   [&](std::vector<absl::StatusOr<SubscribedTopic>> results) {
                     result = *results[0];
                   });
    loops_.RunAll();
    return result;
  }

  ManualLoops loops_{2};
  Hub hub_{loops_.HubLoops()};
  MemoryEngineOptions options_ = [] {
    MemoryEngineOptions options;
    options.history_size = 5;
    return options;
  }();
  MemoryEngine engine_{hub_, options_};
};

TEST_F(HubTest, DeliversToSubscribersOfTheTopicOnEveryShard) {
  FakeSubscriber a, b, other;
  Subscribe(0, "chat", &a);
  Subscribe(1, "chat", &b);
  Subscribe(1, "news", &other);
  Publish("chat", 3);
  loops_.RunAll();
  EXPECT_EQ(a.offsets(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(b.offsets(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(other.offsets().empty());
}

TEST_F(HubTest, EventsPendingTogetherGoOutInOneWriteAndShareOneEncoding) {
  FakeSubscriber a, b;
  Subscribe(0, "chat", &a);
  Subscribe(0, "chat", &b);
  Publish("chat", 5);
  // One delivery task for the whole batch, not one per event.
  EXPECT_EQ(loops_.pending(0), 1u);
  loops_.RunAll();
  ASSERT_EQ(a.writes().size(), 1u);
  ASSERT_EQ(a.writes()[0].size(), 5u);
  // Encoded once: both subscribers hold the same buffer.
  EXPECT_EQ(a.writes()[0][0].get(), b.writes()[0][0].get());
}

TEST_F(HubTest, ShardsWithoutSubscribersGetNothing) {
  FakeSubscriber a;
  Subscribe(1, "chat", &a);
  Publish("chat");
  Publish("nobody.listens");
  EXPECT_EQ(loops_.pending(0), 0u);
  EXPECT_EQ(loops_.pending(1), 1u);
  loops_.RunAll();
  EXPECT_EQ(a.offsets().size(), 1u);
}

TEST_F(HubTest, UnsubscribeAndDetachStopDelivery) {
  FakeSubscriber a, b;
  Subscribe(0, "chat", &a);
  Subscribe(0, "chat", &b);
  Subscribe(0, "news", &b);
  hub_.Unsubscribe(0, "chat", &a);
  hub_.Detach(0, &b);
  Publish("chat");
  Publish("news");
  loops_.RunAll();
  EXPECT_TRUE(a.offsets().empty());
  EXPECT_TRUE(b.offsets().empty());
  EXPECT_EQ(hub_.attached_count(), 1u);  // `a` stays attached without subscriptions.
  EXPECT_FALSE(hub_.HasSubscribers("chat"));
}

TEST_F(HubTest, ASlowConsumerIsClosedWhileOthersGetEverything) {
  FakeSubscriber slow(/*capacity=*/2), healthy;
  Subscribe(0, "chat", &slow);
  Subscribe(0, "chat", &healthy);
  Publish("chat", 10);
  loops_.RunAll();
  ASSERT_TRUE(slow.disconnect().has_value());
  EXPECT_EQ(slow.disconnect()->code, 4408);
  EXPECT_EQ(healthy.offsets().size(), 10u);
}

TEST_F(HubTest, EphemeralEventsAreDeliveredWithOffsetZero) {
  FakeSubscriber a;
  Subscribe(0, "typing", &a);
  Publish("typing", 2, /*ephemeral=*/true);
  loops_.RunAll();
  EXPECT_EQ(a.offsets(), (std::vector<uint64_t>{0, 0}));
}

TEST_F(HubTest, LostEventsCloseTheTopicsSubscribersAfterWhatCameBefore) {
  FakeSubscriber a, b, other;
  Subscribe(0, "chat", &a);
  Subscribe(1, "chat", &b);
  Subscribe(1, "news", &other);
  Publish("chat", 2);
  hub_.OnEventsLost("chat");
  loops_.RunAll();
  EXPECT_EQ(a.offsets(), (std::vector<uint64_t>{1, 2}));  // Delivered before the close.
  ASSERT_TRUE(a.disconnect().has_value());
  ASSERT_TRUE(b.disconnect().has_value());
  EXPECT_EQ(a.disconnect()->code, kDisconnectEventsLost.code);
  EXPECT_FALSE(other.disconnect().has_value());
}

TEST_F(HubTest, ResubscribingWithAPositionReplaysExactlyWhatWasMissed) {
  FakeSubscriber first;
  SubscribedTopic initial = Subscribe(0, "chat", &first);
  EXPECT_FALSE(initial.recovered);
  Publish("chat", 2);
  loops_.RunAll();
  hub_.Detach(0, &first);
  Publish("chat", 2);  // Offsets 3 and 4, missed.

  FakeSubscriber second;
  SubscribedTopic result = Subscribe(0, "chat", &second, TopicPosition{initial.position.epoch, 2});
  EXPECT_TRUE(result.recovered);
  EXPECT_EQ(result.position.offset, 4u);
  Publish("chat");
  loops_.RunAll();
  EXPECT_EQ(second.offsets(), (std::vector<uint64_t>{3, 4, 5}));
}

// An engine whose history reads wait until the test runs them.
class DeferredRecoverEngine final : public Engine {
 public:
  explicit DeferredRecoverEngine(Engine& engine) : engine_(engine) {}
  void Publish(const herald::v1::PublishRequest& request, const std::string& publisher,
               PublishCallback done) override {
    engine_.Publish(request, publisher, std::move(done));
  }
  void Recover(absl::string_view topic, const std::optional<TopicPosition>& since,
               const std::string& subscriber, HistoryCallback done) override {
    reads_.push_back([this, topic = std::string(topic), since, subscriber,
                      done = std::move(done)] {
      engine_.Recover(topic, since, subscriber, [this, done](absl::StatusOr<TopicHistory> history) {
        if (after_read_) after_read_();
        done(std::move(history));
      });
    });
  }
  void ReadHistory(absl::string_view topic, size_t limit, HistoryCallback done) override {
    engine_.ReadHistory(topic, limit, std::move(done));
  }
  void RemoveHistory(absl::string_view topic, std::function<void(absl::Status)> done) override {
    engine_.RemoveHistory(topic, std::move(done));
  }
  void RunReads() {
    for (auto& read : reads_) read();
    reads_.clear();
  }
  // Runs between a history read and the hand-over of its result.
  void set_after_read(std::function<void()> after_read) { after_read_ = std::move(after_read); }

 private:
  Engine& engine_;
  std::function<void()> after_read_;
  std::vector<std::function<void()>> reads_;
};

TEST_F(HubTest, EventsPublishedWhileTheReplayIsReadAreNeitherLostNorRepeated) {
  DeferredRecoverEngine engine(engine_);
  hub_.set_engine(&engine);
  TopicPosition position = Publish("chat", 3);
  FakeSubscriber client;
  std::vector<absl::StatusOr<SubscribedTopic>> results;
  hub_.Subscribe(0, &client, {{"chat", TopicPosition{position.epoch, 1}}},
                 [&](auto r) { results = std::move(r); });
  // Subscribed, history not read yet: these arrive live and are held...
  Publish("chat", 2);
  loops_.RunAll();
  EXPECT_TRUE(client.offsets().empty());
  // ...and are in the history read too: each must come once, in order.
  engine.RunReads();
  loops_.RunAll();
  Publish("chat");
  loops_.RunAll();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0]->recovered);
  EXPECT_EQ(client.offsets(), (std::vector<uint64_t>{2, 3, 4, 5, 6}));
}

TEST_F(HubTest, TooManyEventsHeldDuringARecoveryAreDroppedAndTheClientContinuesAfterThem) {
  DeferredRecoverEngine engine(engine_);
  hub_.set_engine(&engine);
  TopicPosition position = Publish("chat", 3);
  FakeSubscriber client(/*capacity=*/Shard::kMaxHeldEvents * 2);
  std::vector<absl::StatusOr<SubscribedTopic>> results;
  hub_.Subscribe(0, &client, {{"chat", TopicPosition{position.epoch, 1}}},
                 [&](auto r) { results = std::move(r); });
  Publish("chat", static_cast<int>(Shard::kMaxHeldEvents) + 1);
  loops_.RunAll();
  // Published after the history was read but delivered before the subscribe completes: dropped
  // too, so the client must continue after them.
  TopicPosition last_dropped;
  engine.set_after_read([&] { last_dropped = Publish("chat", 3); });
  engine.RunReads();
  loops_.RunAll();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0]->recovered);
  EXPECT_EQ(results[0]->position.offset, last_dropped.offset);
  EXPECT_TRUE(client.offsets().empty());
  TopicPosition next = Publish("chat");
  loops_.RunAll();
  EXPECT_EQ(client.offsets(), (std::vector<uint64_t>{next.offset}));
}

TEST_F(HubTest, AResubscribeWhileTheFirstIsPendingKeepsItsOwnReplay) {
  DeferredRecoverEngine engine(engine_);
  hub_.set_engine(&engine);
  TopicPosition position = Publish("chat", 2);
  FakeSubscriber client;
  std::vector<SubscribedTopic> results;
  auto record = [&](auto r) { results.push_back(*r[0]); };
  hub_.Subscribe(0, &client, {{"chat", TopicPosition{position.epoch, 0}}}, record);
  hub_.Unsubscribe(0, "chat", &client);
  Publish("chat");  // Offset 3: only the second subscription's replay holds it.
  hub_.Subscribe(0, &client, {{"chat", TopicPosition{position.epoch, 1}}}, record);
  engine.RunReads();
  loops_.RunAll();
  Publish("chat");
  loops_.RunAll();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(client.offsets(), (std::vector<uint64_t>{2, 3, 4}));
}

TEST_F(HubTest, AGapLargerThanHistoryIsNotRecoveredAndNothingOldIsReplayed) {
  FakeSubscriber client;
  std::string epoch = Subscribe(0, "chat", &client).position.epoch;
  hub_.Detach(0, &client);
  Publish("chat", 10);  // History keeps 5: offsets 6..10.

  FakeSubscriber back;
  SubscribedTopic trimmed = Subscribe(0, "chat", &back, TopicPosition{epoch, 2});
  EXPECT_FALSE(trimmed.recovered);
  EXPECT_EQ(trimmed.position.offset, 10u);
  FakeSubscriber other_epoch;
  EXPECT_FALSE(Subscribe(0, "chat", &other_epoch, TopicPosition{"not-it", 9}).recovered);
  FakeSubscriber from_the_future;
  EXPECT_FALSE(Subscribe(0, "chat", &from_the_future, TopicPosition{epoch, 11}).recovered);
  FakeSubscriber just_inside;
  EXPECT_TRUE(Subscribe(0, "chat", &just_inside, TopicPosition{epoch, 5}).recovered);

  Publish("chat");
  loops_.RunAll();
  EXPECT_EQ(back.offsets(), (std::vector<uint64_t>{11}));
  EXPECT_EQ(other_epoch.offsets(), (std::vector<uint64_t>{11}));
  EXPECT_EQ(just_inside.offsets(), (std::vector<uint64_t>{6, 7, 8, 9, 10, 11}));
}

TEST_F(HubTest, AnEventNamesItsEpochOnlyToASubscriberThatWasNotToldIt) {
  FakeSubscriber told;  // Its subscribe answer names the epoch.
  std::string epoch = Subscribe(0, "news", &told).position.epoch;
  ASSERT_FALSE(epoch.empty());
  Publish("news", 2);
  loops_.RunAll();
  FakeSubscriber from_nothing;  // Resumes from "nothing seen": its first event tells the epoch.
  EXPECT_TRUE(Subscribe(1, "news", &from_nothing, TopicPosition{"", 0}).recovered);
  FakeSubscriber resumed;  // Resumes in the epoch it knows.
  EXPECT_TRUE(Subscribe(0, "news", &resumed, TopicPosition{epoch, 1}).recovered);
  FakeSubscriber not_recovered;  // Its answer names the current epoch.
  EXPECT_FALSE(Subscribe(1, "news", &not_recovered, TopicPosition{"not-it", 1}).recovered);

  Publish("news");
  loops_.RunAll();
  using NewEpochs = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(told.offsets(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(told.new_epochs(), NewEpochs{});
  EXPECT_EQ(from_nothing.offsets(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(from_nothing.new_epochs(), (NewEpochs{{epoch, 1}}));
  EXPECT_EQ(resumed.offsets(), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(resumed.new_epochs(), NewEpochs{});
  EXPECT_EQ(not_recovered.offsets(), (std::vector<uint64_t>{3}));
  EXPECT_EQ(not_recovered.new_epochs(), NewEpochs{});
}

TEST_F(HubTest, AReplayLargerThanTheTransportsRoomIsNotRecoveredAndNothingOldIsQueued) {
  herald::v1::PublishRequest request;
  request.set_topic("big");
  request.set_data(std::string(100, 'x'));
  TopicPosition first;
  engine_.Publish(request, "test-publisher", [&](absl::StatusOr<TopicPosition> p) { first = *p; });
  for (int i = 0; i < 3; ++i) {
    engine_.Publish(request, "test-publisher", [](absl::StatusOr<TopicPosition>) {});
  }
  FakeSubscriber client(/*capacity=*/1000, /*replay_room=*/200);  // Three events need ~360.
  SubscribedTopic result = Subscribe(0, "big", &client, TopicPosition{first.epoch, 1});
  EXPECT_FALSE(result.recovered);
  EXPECT_EQ(result.position.offset, 4u);
  EXPECT_TRUE(client.offsets().empty());
}

TEST_F(HubTest, ASubscriberThatDetachesBeforeItsReplayGetsNothing) {
  Publish("chat", 3);
  FakeSubscriber client;
  bool called = false;
  hub_.Subscribe(0, &client, {{"chat", std::nullopt}}, [&](auto) { called = true; });
  hub_.Detach(0, &client);
  loops_.RunAll();
  EXPECT_FALSE(called);
  EXPECT_FALSE(hub_.HasSubscribers("chat"));
}

TEST_F(HubTest, DeliveryLagIsHowLongTheOldestWaitingEventHasWaited) {
  FakeSubscriber a;
  Subscribe(0, "chat", &a);
  EXPECT_EQ(hub_.DeliveryLag(), absl::ZeroDuration());
  Publish("chat");
  absl::SleepFor(absl::Milliseconds(30));
  // Shard 0's loop has not run yet: its event has waited at least that long.
  EXPECT_GE(hub_.DeliveryLag(), absl::Milliseconds(30));
  Publish("chat");
  EXPECT_GE(hub_.DeliveryLag(), absl::Milliseconds(30));
  loops_.RunAll();
  EXPECT_EQ(hub_.DeliveryLag(), absl::ZeroDuration());
  EXPECT_EQ(a.offsets(), (std::vector<uint64_t>{1, 2}));
}

}  // namespace
}  // namespace herald
