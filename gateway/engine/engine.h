// The engine interface: where offsets and epochs are assigned and where events come back from.
#pragma once

#include "absl/strings/string_view.h"
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "herald/v1/event.pb.h"

namespace herald {

struct TopicPosition {
  std::string epoch;
  uint64_t offset = 0;  // Last offset assigned in that epoch; 0 when none yet.
};

// Receives every event the engine accepts (from this node or, with a shared engine, others).
class EventSink {
 public:
  virtual ~EventSink() = default;

  // Called once per event, in offset order per topic. May run on any thread; calls for one
  // topic never overlap. Must not block.
  virtual void OnEvent(herald::v1::Event event) = 0;
};

class Engine {
 public:
  using PublishCallback = std::function<void(absl::StatusOr<TopicPosition>)>;

  virtual ~Engine() = default;

  // Accepts a validated request: assigns the offset (0 when ephemeral), epoch and time, hands
  // the event to the sink, then calls `done` with the event's position. `done` may run inline
  // or on another thread, and always runs exactly once.
  virtual void Publish(const herald::v1::PublishRequest& request, PublishCallback done) = 0;

  // The topic's current epoch and last offset.
  virtual TopicPosition Position(absl::string_view topic) = 0;
};

}  // namespace herald
