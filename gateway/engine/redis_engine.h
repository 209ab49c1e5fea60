// The Redis engine: topics' offsets, epochs and history live in Redis, so any number of gateway
// nodes share them. A publish is one Lua script (idempotency check, next offset, capped history,
// sharded publish of the encoded event); each node subscribes to the topics it has subscribers
// for, and delivers each topic's events in offset order without gaps, filling what it missed
// (a lost connection, a dropped message) from the history.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/redis_address.h"
#include "engine/redis_connection.h"
#include "engine/redis_router.h"
#include "topic/topic_rules.h"

namespace herald {

struct RedisEngineOptions {
  RedisAddress address;
  // Events kept per topic (0 keeps none; the stream's MAXLEN), dropped this long after the
  // topic's last publish, for topics `rules` does not name (all of them without rules).
  size_t history_size = 1000;
  absl::Duration history_ttl = absl::Minutes(10);
  // Per-topic history size and TTL (--topic_rules_file), looked up at each publish; null:
  // every topic follows the two options above.
  std::shared_ptr<const TopicRulesStore> rules;
  absl::Duration idempotency_window = absl::Minutes(2);
  // Connecting, and waiting for any reply: past it the connection is dropped and made again.
  absl::Duration timeout = absl::Seconds(5);
  // Replicas that must have a publish before it is acknowledged (WAIT, giving up after half
  // of `timeout`); 0 acknowledges once the master has it.
  int wait_replicas = 0;
  // Every key and channel starts with this (several gateways may share one Redis).
  std::string prefix = "herald";
};

class RedisEngine final : public Engine {
 public:
  // Live events a topic holds at most while the gap before them is read from history; past it
  // newer ones are dropped, and read from history in turn once the gap is filled.
  static constexpr size_t kMaxHeldEvents = 10000;

  // Starts connecting at once (ready() tells when both connections are up). `sink` must
  // outlive the engine.
  RedisEngine(EventSink& sink, RedisEngineOptions options);
  ~RedisEngine() override;

  // Engine:
  void Publish(const herald::v1::PublishRequest& request, const std::string& publisher,
               PublishCallback done) override;
  void Recover(absl::string_view topic, const std::optional<TopicPosition>& since,
               const std::string& subscriber, HistoryCallback done) override;
  void ReadHistory(absl::string_view topic, size_t limit, HistoryCallback done) override;
  void RemoveHistory(absl::string_view topic, std::function<void(absl::Status)> done) override;
  void SetInterest(absl::string_view topic, bool interested) override;
  bool ready() const override { return router_.ready(); }
  Stats stats() override {
    Stats stats;
    stats.up = ready();
    stats.errors = router_.errors();
    stats.reconnects = router_.reconnects();
    return stats;
  }

  // Gaps in a topic's live events that history no longer covered (its subscribers missed
  // events), since start.
  uint64_t gaps_lost() const { return gaps_lost_.load(std::memory_order_relaxed); }

 private:
  // The node's subscription to one topic's channel, on the engine's thread.
  struct Watch {
    bool wanted = false;      // The hub has subscribers of the topic.
    RedisRouter::Server* server = nullptr;  // Where the subscription was sent.
    bool subscribed = false;  // As of the last confirmation received.
    int unconfirmed = 0;      // SSUBSCRIBE / SUNSUBSCRIBE sent and not confirmed yet.
    // Reads that must start after the subscription is in place (Recover).
    std::vector<std::function<void()>> after_subscribe;
    // The last event handed to the sink, once one was.
    std::optional<TopicPosition> delivered;
    // Before any was: the lowest position a subscriber was given (it continues from there).
    std::optional<TopicPosition> floor;
    // After a reconnect: the events missed meanwhile are read once subscribed again.
    bool resync = false;
    // While a gap is read from history, live events wait here (past kMaxHeldEvents they
    // are dropped, and read from history once the held ones are passed on).
    bool filling = false;
    uint64_t fill_generation = 0;  // Tells the current gap read from an earlier one.
    std::vector<std::shared_ptr<const EncodedEvent>> held;
    bool held_overflow = false;

    // Where a resync reads from: the last event delivered, or the floor.
    std::optional<TopicPosition> ResumePoint() const { return delivered ? delivered : floor; }
  };
  struct Script {
    std::string source;
    std::string sha1;
  };

  // All below run on the engine's thread.
  void OnSubscriberClosed(RedisRouter::Server& server);
  // Marks a watch unsubscribed (its server's connection ended, or the topic moved).
  void ForgetSubscription(Watch& watch);
  // A subscriber of `topic` was given `position` (see Watch::floor).
  void NoteSubscriberPosition(const std::string& topic, const TopicPosition& position);
  // Follows every wanted topic on its owner where it is not followed yet (after a reconnect or
  // a new slot map).
  void Resubscribe();

  // EVALSHA, or EVAL when the server does not know the script (after a restart or a flush).
  void RunScript(const Script& script, const std::string& topic, std::vector<std::string> args,
                 RedisConnection::ReplyCallback done, RedisCommandOptions options = {});
  // The topic's position, and with `since` the events after it (TopicHistory::recovered).
  void ReadSince(const std::string& topic, const std::optional<TopicPosition>& since,
                 HistoryCallback done);

  void SendSubscription(const std::string& topic, Watch& watch, bool subscribe);
  void OnPush(RedisRouter::Server& server, const redisReply& reply);
  void OnConfirmation(RedisRouter::Server& server, const std::string& topic, bool subscribed);
  void OnMessage(absl::string_view payload);
  // Passes a live event on in order, holding it (and reading the gap) when events before it
  // are missing.
  void HandleEvent(const std::string& topic, std::shared_ptr<const EncodedEvent> event);
  void StartFill(const std::string& topic, Watch& watch, const TopicPosition& from,
                 int attempt = 1);
  void FinishFill(const std::string& topic, const TopicPosition& from, uint64_t generation,
                  int attempt, absl::StatusOr<TopicHistory> history);
  void Deliver(Watch& watch, std::shared_ptr<const EncodedEvent> event);

  struct TopicKeys {
    std::string meta;     // Hash: epoch, offset, server (the id of the last to write it).
    std::string log;      // Stream of encoded events, entry id = offset.
    std::string channel;  // Sharded pub/sub channel of the encoded events.
    std::string key_prefix;  // + idempotency key: the position of the first publish with it.
  };
  TopicKeys KeysFor(absl::string_view topic) const;
  std::string TagOf(absl::string_view topic) const;

  EventSink& sink_;
  const RedisEngineOptions options_;
  const std::shared_ptr<const TopicRulesStore> rules_;  // options_.rules, or the two options.
  // Of every key and channel: the configured prefix, and the database when it is not 0.
  const std::string prefix_;
  const Script publish_script_;
  const Script read_script_;
  std::atomic<uint64_t> gaps_lost_{0};

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  RedisRouter router_;
  absl::flat_hash_map<std::string, Watch> watches_;
  std::thread thread_;
};

}  // namespace herald
