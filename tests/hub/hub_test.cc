// Hub fan-out through shards, with fake transports and loops run by hand.
#include "hub/hub.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>

#include "engine/memory_engine.h"
#include "hub/fake_transport.h"

namespace herald {
namespace {

// Loops whose posted tasks run only when the test says so.
class ManualLoops {
 public:
  explicit ManualLoops(size_t count) : queues_(count) {}

  std::vector<LoopPoster> Posters() {
    std::vector<LoopPoster> posters;
    for (size_t i = 0; i < queues_.size(); ++i) {
      posters.push_back([this, i](std::function<void()> task) {
        queues_[i].push_back(std::move(task));
      });
    }
    return posters;
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
  void Publish(const std::string& topic, int count = 1, bool ephemeral = false) {
    for (int i = 0; i < count; ++i) {
      herald::v1::PublishRequest request;
      request.set_topic(topic);
      request.set_data("x");
      request.set_ephemeral(ephemeral);
      engine_.Publish(request, [](absl::StatusOr<TopicPosition>) {});
    }
  }

  ManualLoops loops_{2};
  Hub hub_{loops_.Posters()};
  MemoryEngine engine_{hub_};
};

TEST_F(HubTest, DeliversToSubscribersOfTheTopicOnEveryShard) {
  FakeTransport a, b, other;
  hub_.Subscribe(0, "chat", &a);
  hub_.Subscribe(1, "chat", &b);
  hub_.Subscribe(1, "news", &other);
  Publish("chat", 3);
  loops_.RunAll();
  EXPECT_EQ(a.offsets(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(b.offsets(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(other.offsets().empty());
}

TEST_F(HubTest, EventsPendingTogetherGoOutInOneWriteAndShareOneEncoding) {
  FakeTransport a, b;
  hub_.Subscribe(0, "chat", &a);
  hub_.Subscribe(0, "chat", &b);
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
  FakeTransport a;
  hub_.Subscribe(1, "chat", &a);
  Publish("chat");
  Publish("nobody.listens");
  EXPECT_EQ(loops_.pending(0), 0u);
  EXPECT_EQ(loops_.pending(1), 1u);
  loops_.RunAll();
  EXPECT_EQ(a.offsets().size(), 1u);
}

TEST_F(HubTest, UnsubscribeAndDetachStopDelivery) {
  FakeTransport a, b;
  hub_.Subscribe(0, "chat", &a);
  hub_.Subscribe(0, "chat", &b);
  hub_.Subscribe(0, "news", &b);
  hub_.Unsubscribe(0, "chat", &a);
  hub_.Detach(0, &b);
  Publish("chat");
  Publish("news");
  loops_.RunAll();
  EXPECT_TRUE(a.offsets().empty());
  EXPECT_TRUE(b.offsets().empty());
  EXPECT_EQ(hub_.attached_count(), 1u);  // `a` stays attached without subscriptions.
}

TEST_F(HubTest, SubscribingTwiceDeliversOnce) {
  FakeTransport a;
  EXPECT_TRUE(hub_.Subscribe(0, "chat", &a));
  EXPECT_FALSE(hub_.Subscribe(0, "chat", &a));
  Publish("chat");
  loops_.RunAll();
  EXPECT_EQ(a.offsets().size(), 1u);
}

TEST_F(HubTest, ASlowConsumerIsClosedWhileOthersGetEverything) {
  FakeTransport slow(/*capacity=*/2), healthy;
  hub_.Subscribe(0, "chat", &slow);
  hub_.Subscribe(0, "chat", &healthy);
  Publish("chat", 10);
  loops_.RunAll();
  ASSERT_TRUE(slow.disconnect().has_value());
  EXPECT_EQ(slow.disconnect()->code, 4408);
  EXPECT_EQ(healthy.offsets().size(), 10u);
}

TEST_F(HubTest, EphemeralEventsAreDeliveredWithOffsetZero) {
  FakeTransport a;
  hub_.Subscribe(0, "typing", &a);
  Publish("typing", 2, /*ephemeral=*/true);
  loops_.RunAll();
  EXPECT_EQ(a.offsets(), (std::vector<uint64_t>{0, 0}));
}

TEST_F(HubTest, CloseAllClosesEveryAttachedTransport) {
  FakeTransport a, b;
  hub_.Attach(0, &a);
  hub_.Subscribe(1, "chat", &b);
  hub_.CloseAll(kDisconnectShutdown);
  loops_.RunAll();
  ASSERT_TRUE(a.disconnect().has_value());
  ASSERT_TRUE(b.disconnect().has_value());
  EXPECT_EQ(a.disconnect()->code, 1001);
  EXPECT_EQ(b.disconnect()->reason, "shutdown");
}

}  // namespace
}  // namespace herald
