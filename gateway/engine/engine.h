// The engine interface: where offsets, epochs and history live, and where events come back from.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "codec/encoded_event.h"
#include "topic/topic_position.h"
#include "herald/v1/event.pb.h"

namespace herald {

// Receives every event the engine accepts (from this node or, with a shared engine, others).
class EventSink {
 public:
  virtual ~EventSink() = default;

  // Called once per event, in offset order per topic. May run on any thread; calls for one
  // topic never overlap. Must not block.
  virtual void OnEvent(std::shared_ptr<const EncodedEvent> event) = 0;

  // Events of `topic` before the next one it passes on were lost (a shared engine could not
  // read them back): the topic's subscribers must learn they were not recovered. In order with
  // OnEvent for that topic.
  virtual void OnEventsLost(absl::string_view topic) = 0;
};

// History answers (gRPC History, GET /v1/history): the events given when no limit is asked, and
// the size they keep under (gRPC clients refuse messages over 4 MiB by default), keeping the
// newest events that fit.
inline constexpr uint32_t kDefaultHistoryLimit = 100;
inline constexpr size_t kMaxHistoryAnswerBytes = (4 << 20) - (64 << 10);

// A topic's current position and, when asked, events from its history.
struct TopicHistory {
  TopicPosition position;
  // For Recover: every event after the asked position is in `events` (possibly none).
  bool recovered = false;
  std::vector<std::shared_ptr<const EncodedEvent>> events;  // In offset order.
};

class Engine {
 public:
  using PublishCallback = std::function<void(absl::StatusOr<TopicPosition>)>;
  using HistoryCallback = std::function<void(absl::StatusOr<TopicHistory>)>;

  virtual ~Engine() = default;

  // Accepts a validated request: assigns the offset (0 when ephemeral), epoch and time, keeps
  // the event in history, and calls `done` with its position; the event reaches the sink (the
  // memory engine before `done`, a shared engine when it comes back from the others). A request
  // whose idempotency key the topic saw within the window is not delivered again: `done` gets
  // the first position. `done` may run inline or on another thread, exactly once. `publisher`
  // names who publishes (Grant::CredentialKey; empty: nobody in particular): shares of the
  // engine's state (topics, idempotency keys) are counted per credential. It is valid only
  // during the call (an engine keeps a copy).
  virtual void Publish(const herald::v1::PublishRequest& request, const std::string& publisher,
                       PublishCallback done) = 0;

  // The topic's position; with `since`, also the events after it when history still holds all
  // of them (`recovered`), and none otherwise: never a partial replay. Every event after the
  // position returned reaches the sink when SetInterest(topic, true) was called before.
  // `subscriber` names who asks, as `publisher` does for Publish (valid during the call only).
  virtual void Recover(absl::string_view topic, const std::optional<TopicPosition>& since,
                       const std::string& subscriber, HistoryCallback done) = 0;

  // The topic's position and its last `limit` events in history. An unknown topic reads as
  // epoch "" and offset 0 and is not created (a scan of names must not grow the engine); a
  // later `Recover` from that position replays from offset 1 while history still holds it.
  virtual void ReadHistory(absl::string_view topic, size_t limit, HistoryCallback done) = 0;

  // Drops the topic's history; its epoch and offset stay (later events continue them), so a
  // client recovering from before now is told it was not recovered. `done` runs once.
  virtual void RemoveHistory(absl::string_view topic, std::function<void(absl::Status)> done) = 0;

  // Any thread: whether this node has subscribers of `topic` (called when that changes, in
  // order). A shared engine sends the sink only the events of such topics; the memory engine
  // sends every event.
  virtual void SetInterest(absl::string_view /*topic*/, bool /*interested*/) {}

  // Any thread: whether publishes can be accepted now (/readyz answers 503 otherwise).
  virtual bool ready() const { return true; }

  // Any thread: what the metrics show of the engine.
  struct Stats {
    bool up = true;           // ready().
    uint64_t errors = 0;      // Faults so far: connections lost, commands or replies refused.
    uint64_t reconnects = 0;  // Connections made again after one was lost.
    // What the engine holds in this process (the memory engine); unset when it is kept
    // elsewhere (Redis).
    std::optional<uint64_t> topics;  // Topics counted under --max_topics.
    std::optional<uint64_t> history_events;
    std::optional<uint64_t> history_bytes;
  };
  virtual Stats stats() {
    Stats stats;
    stats.up = ready();
    return stats;
  }
};

}  // namespace herald
