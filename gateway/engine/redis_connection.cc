// A pipelined RESP2 connection on Asio.
#include "engine/redis_connection.h"

#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How often waiting commands are checked against the reply timeout, and an idle subscriber
// connection is pinged.
constexpr auto kTick = std::chrono::milliseconds(250);
constexpr size_t kReadChunk = 64 << 10;

absl::Status Unavailable(const RedisEndpoint& endpoint, absl::string_view why) {
  return absl::UnavailableError(absl::StrCat("redis ", endpoint.host, ":", endpoint.port, ": ", why));
}

void AppendCommand(std::string& out, const std::vector<absl::string_view>& args) {
  absl::StrAppend(&out, "*", args.size(), "\r\n");
  for (absl::string_view arg : args) absl::StrAppend(&out, "$", arg.size(), "\r\n", arg, "\r\n");
}

}  // namespace

void RedisReplyFree::operator()(redisReply* reply) const { freeReplyObject(reply); }

absl::string_view ReplyText(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS ||
      reply.type == REDIS_REPLY_ERROR) {
    return absl::string_view(reply.str, reply.len);
  }
  return {};
}

std::optional<absl::string_view> InfoField(absl::string_view info, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (absl::ConsumePrefix(&line, name) && absl::ConsumePrefix(&line, ":")) return line;
  }
  return std::nullopt;
}

std::optional<int> RedisMajorVersion(absl::string_view info) {
  std::optional<absl::string_view> version = InfoField(info, "redis_version");
  int major = 0;
  if (version && absl::SimpleAtoi(version->substr(0, version->find('.')), &major)) return major;
  return std::nullopt;
}

std::optional<std::string> RedisServerId(absl::string_view info_server) {
  std::optional<absl::string_view> run_id = InfoField(info_server, "run_id");
  if (!run_id || run_id->size() < 16) return std::nullopt;
  return std::string(run_id->substr(0, 16));  // 64 random bits: one process from another.
}

absl::Status CheckMaster(absl::string_view info_replication) {
  std::optional<absl::string_view> role = InfoField(info_replication, "role");
  if (role == "master") return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "not a master (role:", role.value_or("unknown"), "); waiting for the address to lead to one"));
}

absl::Status ReplyError(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return absl::OkStatus();
  absl::string_view text = ReplyText(reply);
  std::string message = absl::StrCat("redis: ", text);
  // Errors that pass (a server loading, busy, full, failing over, a slot moving) are worth a
  // retry; any other (a wrong type, a refused permission, a script error) is not.
  for (absl::string_view transient : {"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN",
                                      "READONLY", "OOM", "MOVED", "ASK", "NOSCRIPT"}) {
    if (absl::StartsWith(text, transient)) return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

std::shared_ptr<RedisConnection> RedisConnection::Open(asio::io_context& io,
                                                       RedisConnectionOptions options,
                                                       Handlers handlers) {
  std::shared_ptr<RedisConnection> connection(
      new RedisConnection(io, std::move(options), std::move(handlers)));
  connection->Start();
  return connection;
}

RedisConnection::RedisConnection(asio::io_context& io, RedisConnectionOptions options,
                                 Handlers handlers)
    : io_(io),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      resolver_(io),
      socket_(io),
      timer_(io),
      reader_(redisReaderCreate()),
      read_buffer_(kReadChunk) {}

RedisConnection::~RedisConnection() { redisReaderFree(reader_); }

void RedisConnection::Start() {
  opened_ = absl::Now();
  Tick();
  resolver_.async_resolve(
      options_.endpoint.host, std::to_string(options_.endpoint.port),
      [self = shared_from_this()](const boost::system::error_code& error,
                                  tcp::resolver::results_type endpoints) {
        if (self->closed_) return;
        if (error) {
          self->Close(Unavailable(self->options_.endpoint, error.message()));
          return;
        }
        asio::async_connect(self->socket_, endpoints,
                            [self](const boost::system::error_code& error, const tcp::endpoint&) {
                              if (self->closed_) return;
                              if (error) {
                                self->Close(Unavailable(self->options_.endpoint, error.message()));
                                return;
                              }
                              self->OnConnected();
                            });
      });
}

void RedisConnection::OnConnected() {
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  socket_.set_option(asio::socket_base::keep_alive(true), ignored);
  last_read_ = absl::Now();
  Read();
  Handshake();
}

void RedisConnection::Handshake() {
  // Each step's reply is checked; the connection is ready after the last one.
  struct Step {
    std::vector<std::string> command;
    // Reads the reply (an error reply was refused already); an error closes the connection.
    std::function<absl::Status(absl::string_view reply)> check;
  };
  std::vector<Step> steps;
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      steps.push_back({{"AUTH", options_.password}, nullptr});
    } else {
      steps.push_back({{"AUTH", options_.username, options_.password}, nullptr});
    }
  }
  if (options_.database != 0) {
    steps.push_back({{"SELECT", std::to_string(options_.database)}, nullptr});
  }
  steps.push_back({{"INFO", "server"}, [this](absl::string_view reply) {
                     // Sharded pub/sub (SSUBSCRIBE, SPUBLISH) came with Redis 7.
                     std::optional<int> major = RedisMajorVersion(reply);
                     if (!major || *major < 7) {
                       return absl::FailedPreconditionError(absl::StrCat(
                           "Redis 7 or later is needed (sharded pub/sub); this server is ",
                           major ? absl::StrCat("version ", *major) : "unknown"));
                     }
                     std::optional<std::string> id = RedisServerId(reply);
                     if (!id) return absl::FailedPreconditionError("INFO names no run_id");
                     server_id_ = *std::move(id);
                     return absl::OkStatus();
                   }});
  if (options_.require_master) {
    // Writes go to a master only: a replica refuses them, and the epochs of the topics it
    // serves once promoted start over (its server id is not the one that wrote them).
    steps.push_back({{"INFO", "replication"}, CheckMaster});
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    bool last = i + 1 == steps.size();
    std::string name = steps[i].command[0];
    std::vector<absl::string_view> args(steps[i].command.begin(), steps[i].command.end());
    Send(args, [self = shared_from_this(), last, name,
                check = std::move(steps[i].check)](absl::StatusOr<RedisReply> reply) {
      if (!reply.ok()) return;  // Closed already.
      absl::Status error = ReplyError(**reply);
      if (error.ok() && check) error = check(ReplyText(**reply));
      if (!error.ok()) {
        self->Close(Unavailable(self->options_.endpoint, absl::StrCat(name, ": ", error.message())));
        return;
      }
      if (!last) return;
      self->ready_ = true;
      if (self->handlers_.ready) self->handlers_.ready();
    });
  }
}

void RedisConnection::CheckStillMaster() {
  if (role_check_sent_) return;
  role_check_sent_ = true;
  Send({"INFO", "replication"}, [self = shared_from_this()](absl::StatusOr<RedisReply> reply) {
    self->role_check_sent_ = false;
    if (!reply.ok()) return;  // Closed already.
    absl::Status error = ReplyError(**reply);
    if (error.ok()) error = CheckMaster(ReplyText(**reply));
    if (!error.ok()) {
      self->Close(Unavailable(self->options_.endpoint, absl::StrCat("INFO: ", error.message())));
    }
  });
}

void RedisConnection::Send(const std::vector<absl::string_view>& args, ReplyCallback done) {
  if (closed_) {
    if (done) Fail(std::move(done), Unavailable(options_.endpoint, "connection closed"));
    return;
  }
  AppendCommand(output_, args);
  if (done) waiting_.push_back({std::move(done), absl::Now()});
  if (!flush_posted_ && !writing_now_) {
    flush_posted_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->Flush();
    });
  }
}

void RedisConnection::Flush() {
  if (closed_ || writing_now_ || output_.empty() || !socket_.is_open()) return;
  writing_now_ = true;
  writing_.swap(output_);
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                      self->writing_now_ = false;
                      self->writing_.clear();
                      if (self->closed_) return;
                      if (error) {
                        self->Close(Unavailable(self->options_.endpoint, error.message()));
                        return;
                      }
                      self->Flush();
                    });
}

void RedisConnection::Read() {
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](const boost::system::error_code& error, size_t size) {
        if (self->closed_) return;
        if (error) {
          self->Close(Unavailable(self->options_.endpoint,
                                  error == asio::error::eof ? "closed by the server"
                                                            : error.message()));
          return;
        }
        self->last_read_ = absl::Now();
        if (redisReaderFeed(self->reader_, self->read_buffer_.data(), size) != REDIS_OK) {
          self->Close(Unavailable(self->options_.endpoint, "cannot read the reply"));
          return;
        }
        while (!self->closed_) {
          void* parsed = nullptr;
          if (redisReaderGetReply(self->reader_, &parsed) != REDIS_OK) {
            self->Close(Unavailable(self->options_.endpoint,
                                    absl::StrCat("protocol error: ", self->reader_->errstr)));
            return;
          }
          if (parsed == nullptr) break;
          self->OnReply(RedisReply(static_cast<redisReply*>(parsed)));
        }
        if (!self->closed_) self->Read();
      });
}

void RedisConnection::OnReply(RedisReply reply) {
  if (!waiting_.empty()) {
    ReplyCallback done = std::move(waiting_.front().done);
    waiting_.pop_front();
    done(std::move(reply));
    if (close_when_answered_ && waiting_.empty()) Close(*close_when_answered_);
    return;
  }
  if (handlers_.push) {
    handlers_.push(*reply);
    return;
  }
  Close(Unavailable(options_.endpoint, "a reply to no command"));
}

void RedisConnection::Tick() {
  if (closed_) return;
  absl::Time now = absl::Now();
  if (!ready_ && now - opened_ > options_.connect_timeout) {
    Close(Unavailable(options_.endpoint, "connect timed out"));
    return;
  }
  if (!waiting_.empty() && now - waiting_.front().sent > options_.reply_timeout) {
    Close(Unavailable(options_.endpoint,
                      absl::StrCat("no reply within ", absl::FormatDuration(options_.reply_timeout))));
    return;
  }
  if (ready_ && handlers_.push) {
    if (now - last_read_ > options_.reply_timeout) {
      Close(Unavailable(options_.endpoint, absl::StrCat("silent for ",
                                                        absl::FormatDuration(options_.reply_timeout))));
      return;
    }
    // An idle subscriber connection is pinged, so a dead server is noticed.
    if (now - last_read_ >= absl::FromChrono(kTick)) Send({"PING"}, nullptr);
  }
  // A master made a replica (a failover) is left within a tick, before it refuses a write.
  if (ready_ && options_.require_master && !handlers_.push) CheckStillMaster();
  timer_.expires_after(kTick);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
    if (!error) self->Tick();
  });
}

void RedisConnection::Fail(ReplyCallback done, const absl::Status& status) {
  asio::post(io_, [done = std::move(done), status] { done(status); });
}

void RedisConnection::CloseWhenAnswered(const absl::Status& why) {
  if (waiting_.empty()) {
    Close(why);
    return;
  }
  close_when_answered_ = why;
}

void RedisConnection::Close(const absl::Status& why) {
  if (closed_) return;
  closed_ = true;
  ready_ = false;
  boost::system::error_code ignored;
  resolver_.cancel();
  timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  std::deque<Waiting> waiting;
  waiting.swap(waiting_);
  for (Waiting& command : waiting) Fail(std::move(command.done), why);
  if (handlers_.closed) {
    std::function<void(const absl::Status&)> closed = std::move(handlers_.closed);
    closed(why);
  }
}

}  // namespace herald
