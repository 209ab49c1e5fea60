// The in-memory engine's offsets, epochs and ordering.
#include "engine/memory_engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/mutex.h"

namespace herald {
namespace {

class RecordingSink final : public EventSink {
 public:
  void OnEvent(herald::v1::Event event) override {
    absl::MutexLock lock(&mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<herald::v1::Event> events() {
    absl::MutexLock lock(&mutex_);
    return events_;
  }

 private:
  absl::Mutex mutex_;
  std::vector<herald::v1::Event> events_;
};

TopicPosition PublishSync(Engine& engine, const std::string& topic, bool ephemeral = false) {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_data("x");
  request.set_ephemeral(ephemeral);
  TopicPosition result;
  engine.Publish(request, [&](absl::StatusOr<TopicPosition> position) {
    ASSERT_TRUE(position.ok());
    result = *position;
  });
  return result;
}

TEST(MemoryEngine, OffsetsCountFromOnePerTopicWithOneEpoch) {
  RecordingSink sink;
  MemoryEngine engine(sink);
  TopicPosition a1 = PublishSync(engine, "a");
  TopicPosition a2 = PublishSync(engine, "a");
  TopicPosition b1 = PublishSync(engine, "b");
  EXPECT_EQ(a1.offset, 1u);
  EXPECT_EQ(a2.offset, 2u);
  EXPECT_EQ(b1.offset, 1u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_FALSE(a1.epoch.empty());
  EXPECT_NE(a1.epoch, b1.epoch);
  EXPECT_EQ(engine.Position("a").offset, 2u);
  EXPECT_EQ(engine.Position("a").epoch, a1.epoch);
  ASSERT_EQ(sink.events().size(), 3u);
  EXPECT_GT(sink.events()[0].time_unix_ms(), 0);
}

TEST(MemoryEngine, EphemeralEventsGetOffsetZeroAndDoNotAdvance) {
  RecordingSink sink;
  MemoryEngine engine(sink);
  PublishSync(engine, "a");
  EXPECT_EQ(PublishSync(engine, "a", /*ephemeral=*/true).offset, 0u);
  EXPECT_EQ(PublishSync(engine, "a").offset, 2u);
}

TEST(MemoryEngine, ConcurrentPublishersReachTheSinkInOffsetOrder) {
  RecordingSink sink;
  MemoryEngine engine(sink);
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) PublishSync(engine, "hot");
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  std::vector<herald::v1::Event> events = sink.events();
  ASSERT_EQ(events.size(), 2000u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].offset(), i + 1);
}

}  // namespace
}  // namespace herald
