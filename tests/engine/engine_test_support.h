// What the engine tests share: a sink that keeps what it is given, and waits for answers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <functional>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/engine.h"

namespace herald {

class RecordingSink final : public EventSink {
 public:
  void OnEvent(std::shared_ptr<const EncodedEvent> event) override {
    absl::MutexLock lock(&mutex_);
    events_.push_back(event->event());
  }
  void OnEventsLost(absl::string_view topic) override {
    absl::MutexLock lock(&mutex_);
    lost_.emplace_back(topic);
  }

  std::vector<herald::v1::Event> events() {
    absl::MutexLock lock(&mutex_);
    return events_;
  }
  // Waits until `count` events arrived (or `wait` passed); the events then.
  std::vector<herald::v1::Event> WaitFor(size_t count, absl::Duration wait = absl::Seconds(10)) {
    absl::MutexLock lock(&mutex_);
    auto enough = [&] { return events_.size() >= count; };
    mutex_.AwaitWithTimeout(absl::Condition(&enough), wait);
    return events_;
  }
  // The offsets of the events of `topic` received so far.
  std::vector<uint64_t> Offsets(absl::string_view topic) {
    std::vector<uint64_t> offsets;
    for (const herald::v1::Event& event : events()) {
      if (event.topic() == topic) offsets.push_back(event.offset());
    }
    return offsets;
  }
  // The topics OnEventsLost was called for, in order.
  std::vector<std::string> lost() {
    absl::MutexLock lock(&mutex_);
    return lost_;
  }

 private:
  absl::Mutex mutex_;
  std::vector<herald::v1::Event> events_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> lost_ ABSL_GUARDED_BY(mutex_);
};

// The (epoch, offset) of each event.
inline std::vector<TopicPosition> Positions(const std::vector<herald::v1::Event>& events) {
  std::vector<TopicPosition> positions;
  for (const herald::v1::Event& event : events) positions.push_back({event.epoch(), event.offset()});
  return positions;
}

inline constexpr absl::Duration kEngineWait = absl::Seconds(10);

// Publishes and waits for the answer (DEADLINE_EXCEEDED when none comes within kEngineWait).
inline absl::StatusOr<TopicPosition> TryPublish(Engine& engine,
                                                const herald::v1::PublishRequest& request) {
  absl::StatusOr<TopicPosition> result = absl::DeadlineExceededError("no answer");
  absl::Notification answered;
  engine.Publish(request, "test-publisher", [&](absl::StatusOr<TopicPosition> position) {
    result = std::move(position);
    answered.Notify();
  });
  answered.WaitForNotificationWithTimeout(kEngineWait);
  return result;
}

// Runs a Recover or ReadHistory call and waits for its answer.
inline absl::StatusOr<TopicHistory> WaitForHistory(
    const std::function<void(Engine::HistoryCallback)>& read) {
  absl::StatusOr<TopicHistory> result = absl::DeadlineExceededError("no answer");
  absl::Notification answered;
  read([&](absl::StatusOr<TopicHistory> history) {
    result = std::move(history);
    answered.Notify();
  });
  answered.WaitForNotificationWithTimeout(kEngineWait);
  return result;
}

// Polls `condition` until it holds (true) or kEngineWait passed (false).
inline bool WaitUntil(const std::function<bool()>& condition) {
  absl::Time deadline = absl::Now() + kEngineWait;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace herald
