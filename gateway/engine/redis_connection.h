// One connection to a Redis server over Asio, speaking RESP2: commands are pipelined (everything
// sent within one loop turn leaves in one write) and replies are parsed by hiredis' reader.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/redis_address.h"

struct redisReply;
struct redisReader;

namespace herald {

struct RedisReplyFree {
  void operator()(redisReply* reply) const;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyFree>;

struct RedisConnectionOptions {
  RedisEndpoint endpoint;
  std::string username;
  std::string password;
  int database = 0;
  // Connecting (with AUTH and SELECT) must end within this.
  absl::Duration connect_timeout = absl::Seconds(5);
  // A command unanswered this long, or a subscriber connection silent this long (it is pinged
  // every tick while idle), means the server is stuck or gone: the connection closes.
  absl::Duration reply_timeout = absl::Seconds(5);
  // Only a master will do (checked when connecting, and each tick on a commands connection).
  bool require_master = true;
};

// All methods run on the io_context's thread, which must be single-threaded.
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  // A reply (possibly a Redis error reply), or UNAVAILABLE when the connection ended first.
  using ReplyCallback = std::function<void(absl::StatusOr<RedisReply>)>;
  struct Handlers {
    std::function<void()> ready;                          // Connected and authenticated.
    std::function<void(const absl::Status&)> closed;      // Once, whatever ended it.
    // Set for a subscriber connection: every reply after the handshake comes here (messages,
    // subscribe confirmations, pongs), in order.
    std::function<void(const redisReply&)> push;
  };

  // Starts connecting; `handlers.ready` or `handlers.closed` tells how it went.
  static std::shared_ptr<RedisConnection> Open(boost::asio::io_context& io,
                                               RedisConnectionOptions options, Handlers handlers);
  ~RedisConnection();

  // Queues a command; it is written with everything else sent in the same loop turn. `done`
  // runs once, later (never inline); a subscriber connection passes none.
  void Send(const std::vector<absl::string_view>& args, ReplyCallback done);
  // Ends the connection: waiting commands get UNAVAILABLE, then `closed` runs. Idempotent.
  void Close(const absl::Status& why);
  // Ends it once every command sent is answered (at once when none waits).
  void CloseWhenAnswered(const absl::Status& why);

  bool ready() const { return ready_; }
  // Once ready: which server process this is (RedisServerId).
  const std::string& server_id() const { return server_id_; }
  const RedisEndpoint& endpoint() const { return options_.endpoint; }

 private:
  struct Waiting {
    ReplyCallback done;
    absl::Time sent;
  };

  RedisConnection(boost::asio::io_context& io, RedisConnectionOptions options, Handlers handlers);
  void Start();
  void OnConnected();
  void Handshake();
  void Flush();
  void Read();
  void OnReply(RedisReply reply);
  void Tick();
  // Closes the connection when the server is no longer a master.
  void CheckStillMaster();
  void Fail(ReplyCallback done, const absl::Status& status);

  boost::asio::io_context& io_;
  const RedisConnectionOptions options_;
  Handlers handlers_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  redisReader* reader_;
  std::deque<Waiting> waiting_;
  std::string output_;   // Commands not written yet.
  std::string writing_;  // Commands in the write under way.
  bool flush_posted_ = false;
  bool writing_now_ = false;
  bool ready_ = false;
  std::string server_id_;
  bool role_check_sent_ = false;
  bool closed_ = false;
  std::optional<absl::Status> close_when_answered_;
  absl::Time opened_;
  absl::Time last_read_;
  std::vector<char> read_buffer_;
};

// The text of a bulk or status reply (empty for other types).
absl::string_view ReplyText(const redisReply& reply);
// A field of an `INFO` answer ("redis_version" -> "7.0.15"), if it is there.
std::optional<absl::string_view> InfoField(absl::string_view info, absl::string_view name);
// The major version in an `INFO server` answer (redis_version:7.0.15 -> 7).
std::optional<int> RedisMajorVersion(absl::string_view info);
// Tells one Redis process from another: the start of its `run_id` (random, new at each
// start), from an `INFO server` answer. A topic last written by another process than the
// master now may have lost acknowledged writes (that master was replaced by a replica, or
// restarted from a snapshot). The replication id is not used: it also changes when a master
// gets its first replica, or drops its backlog an hour after the last one left.
std::optional<std::string> RedisServerId(absl::string_view info_server);
// OK when an `INFO replication` answer says `role:master`.
absl::Status CheckMaster(absl::string_view info_replication);
// A Redis error reply as a status with its message: UNAVAILABLE for errors that pass (worth a
// retry), INTERNAL for others; OK for any other reply.
absl::Status ReplyError(const redisReply& reply);

}  // namespace herald
