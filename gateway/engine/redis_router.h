// The Redis servers behind the Redis engine: one standalone server, or the masters of a Redis
// Cluster with the slot map that says which of them owns a topic. Each server has one
// connection for commands and one for subscriptions, made again with backoff when they drop.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/redis_address.h"
#include "engine/redis_connection.h"

namespace herald {

// The cluster slot of `key`: CRC16 of its hash tag (or of the whole key without one), mod 16384.
uint16_t RedisSlot(absl::string_view key);

// What a command asks of the server beyond running it.
struct RedisCommandOptions {
  // Added as its last arguments: the id of the server it is sent to (RedisConnection::
  // server_id; after a redirect, the new one's), then those of the cluster's other masters
  // connected now.
  bool append_server_ids = false;
  // Answered once this many replicas have the command's writes (WAIT on the same connection,
  // at most `wait_timeout`); when fewer do, the answer is UNAVAILABLE.
  int wait_replicas = 0;
  absl::Duration wait_timeout = absl::Seconds(1);
};

// All methods run on the io_context's thread.
class RedisRouter {
 public:
  static constexpr size_t kSlots = 16384;

  struct Server {
    explicit Server(boost::asio::io_context& io, RedisEndpoint endpoint);
    bool commands_ready() const { return commands && commands->ready(); }
    bool subscriber_ready() const { return subscriber && subscriber->ready(); }

    const RedisEndpoint endpoint;
    std::shared_ptr<RedisConnection> commands;
    std::shared_ptr<RedisConnection> subscriber;
    absl::Duration commands_backoff;
    absl::Duration subscriber_backoff;
    // Since when each connection has been up (unset while it is not).
    std::optional<absl::Time> commands_up_since;
    std::optional<absl::Time> subscriber_up_since;
    boost::asio::steady_timer commands_retry;
    boost::asio::steady_timer subscriber_retry;
    // No longer a master of the cluster: its connections are closed and not made again.
    bool retired = false;
    // Each connection was lost at least once (its next ready() is a reconnect).
    bool commands_lost = false;
    bool subscriber_lost = false;
    // Counts the connections made for each role: only the latest one's events count.
    uint64_t commands_generation = 0;
    uint64_t subscriber_generation = 0;
    // Commands answered and waiting for replicas: one WAIT at a time covers every write made
    // before it on the connection, so those answered meanwhile wait for the next.
    struct AwaitingReplicas {
      std::shared_ptr<RedisConnection> connection;  // That ran it.
      std::shared_ptr<RedisReply> reply;
      RedisConnection::ReplyCallback done;
    };
    std::vector<AwaitingReplicas> awaiting_replicas;
    bool replica_wait_sent = false;
  };

  // What the engine hears of.
  struct Listener {
    std::function<void(Server&)> subscriber_ready;
    std::function<void(Server&)> subscriber_closed;
    std::function<void(Server&, const redisReply&)> push;
    // Cluster: the slot map was read again (topics may have other owners now).
    std::function<void()> slots_changed;
  };

  RedisRouter(boost::asio::io_context& io, RedisAddress address, absl::Duration timeout,
              Listener listener);
  RedisRouter(const RedisRouter&) = delete;
  RedisRouter& operator=(const RedisRouter&) = delete;

  // Connects (and in a cluster, reads the slot map first).
  void Start();

  // The server that owns `key` (a topic's keys and channel share one hash tag, so one of them
  // stands for all); null while a cluster's slot map is not known.
  Server* OwnerOf(absl::string_view key);


  // Sends a command about `key` (and keys of its slot) to their owner's commands connection. A
  // cluster's MOVED and ASK answers are followed (and MOVED reads the slot map again). A
  // READONLY answer (the master became a replica) makes the connection again.
  void Command(absl::string_view key, std::vector<std::string> args,
               RedisConnection::ReplyCallback done, RedisCommandOptions options = {});

  // Reads a cluster's slot map again, soon (requests made meanwhile are coalesced).
  void RefreshSlots();

  // Any thread: every server that owns slots is connected, both ways.
  bool ready() const { return ready_.load(std::memory_order_relaxed); }
  // Any thread: faults so far (a connection lost, a command that failed or got an error other
  // than a redirect), and connections made again after one was lost.
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }
  // A fault the engine found itself (a refused subscription, an event that does not parse).
  void CountError() { errors_.fetch_add(1, std::memory_order_relaxed); }

 private:
  enum class Role { kCommands, kSubscriber };

  Server& ServerAt(const RedisEndpoint& endpoint);
  void Connect(Server& server, Role role);
  void OnClosed(Server& server, Role role, const absl::Status& why);
  void UpdateReady();
  void SendTo(Server& server, std::vector<std::string> args, RedisConnection::ReplyCallback done,
              const RedisCommandOptions& options, int redirects_left, bool asking);
  // Sends the WAIT for the commands of server.awaiting_replicas, unless one is under way.
  void WaitForReplicas(Server& server, const RedisCommandOptions& options);
  void ReadSlots(size_t seed);
  absl::Status ApplySlots(const RedisEndpoint& asked, const redisReply& reply);

  boost::asio::io_context& io_;
  const RedisAddress address_;
  const absl::Duration timeout_;
  Listener listener_;
  // Every server ever known, never removed (handlers hold their address); retired when no
  // longer a master.
  std::vector<std::unique_ptr<Server>> servers_;
  // Cluster: the owner of each slot (null when none is known).
  std::vector<Server*> slot_owner_;
  bool slots_known_ = false;
  bool refreshing_ = false;
  bool refresh_again_ = false;
  std::shared_ptr<RedisConnection> slots_connection_;
  boost::asio::steady_timer refresh_retry_;
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> reconnects_{0};
};

}  // namespace herald
