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

std::optional<int> RedisMajorVersion(absl::string_view info) {
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    if (!absl::ConsumePrefix(&line, "redis_version:")) continue;
    int major = 0;
    if (absl::SimpleAtoi(line.substr(0, line.find('.')), &major)) return major;
  }
  return std::nullopt;
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
  std::vector<std::vector<std::string>> steps;
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      steps.push_back({"AUTH", options_.password});
    } else {
      steps.push_back({"AUTH", options_.username, options_.password});
    }
  }
  if (options_.database != 0) steps.push_back({"SELECT", std::to_string(options_.database)});
  steps.push_back({"INFO", "server"});
  for (size_t i = 0; i < steps.size(); ++i) {
    bool last = i + 1 == steps.size();
    std::string name = steps[i][0];
    std::vector<absl::string_view> args(steps[i].begin(), steps[i].end());
    Send(args, [self = shared_from_this(), last, name](absl::StatusOr<RedisReply> reply) {
      if (!reply.ok()) return;  // Closed already.
      if (absl::Status error = ReplyError(**reply); !error.ok()) {
        self->Close(Unavailable(self->options_.endpoint, absl::StrCat(name, ": ", error.message())));
        return;
      }
      if (!last) return;
      // Sharded pub/sub (SSUBSCRIBE, SPUBLISH) came with Redis 7.
      std::optional<int> major = RedisMajorVersion(ReplyText(**reply));
      if (!major || *major < 7) {
        self->Close(Unavailable(self->options_.endpoint,
                                "Redis 7 or later is needed (sharded pub/sub); this server is " +
                                    (major ? "version " + std::to_string(*major) : "unknown")));
        return;
      }
      self->ready_ = true;
      if (self->handlers_.ready) self->handlers_.ready();
    });
  }
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
