// Connections to the Redis servers, and in a cluster, routing by slot.
#include "engine/redis_router.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "log.h"

namespace herald {
namespace {

namespace asio = boost::asio;

// Errors Redis answers in the normal course of things: a script to load first, a cluster's
// redirects and slot migrations.
bool ExpectedError(absl::string_view error) {
  for (absl::string_view prefix : {"NOSCRIPT", "MOVED", "ASK", "TRYAGAIN"}) {
    if (absl::StartsWith(error, prefix)) return true;
  }
  return false;
}

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
constexpr absl::Duration kStableConnection = absl::Seconds(10);
// MOVED / ASK answers followed for one command before it fails.
constexpr int kMaxRedirects = 5;

absl::Duration Jittered(absl::Duration backoff) {
  static thread_local absl::BitGen random;
  return backoff * absl::Uniform(random, 0.8, 1.2);
}

absl::Status Unavailable(absl::string_view why) {
  return absl::UnavailableError(absl::StrCat("the Redis engine is not available: ", why));
}

std::string Describe(const RedisEndpoint& endpoint) {
  return absl::StrCat(endpoint.host, ":", endpoint.port);
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the endpoint.
bool ParseRedirect(absl::string_view error, absl::string_view kind, RedisEndpoint& endpoint) {
  std::vector<absl::string_view> parts = absl::StrSplit(error, ' ');
  if (parts.size() != 3 || parts[0] != kind) return false;
  size_t colon = parts[2].rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(parts[2].substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    return false;
  }
  endpoint.host = std::string(parts[2].substr(0, colon));
  endpoint.port = static_cast<uint16_t>(port);
  return true;
}

}  // namespace

uint16_t RedisSlot(absl::string_view key) {
  // Only the hash tag counts: what is between the first '{' and the next '}', when not empty.
  if (size_t open = key.find('{'); open != absl::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != absl::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  // CRC16-CCITT (XMODEM), as Redis Cluster computes it.
  uint16_t crc = 0;
  for (char c : key) {
    crc ^= static_cast<uint16_t>(static_cast<uint8_t>(c)) << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc % RedisRouter::kSlots;
}

RedisRouter::Server::Server(asio::io_context& io, RedisEndpoint endpoint)
    : endpoint(std::move(endpoint)),
      commands_backoff(kFirstBackoff),
      subscriber_backoff(kFirstBackoff),
      commands_retry(io),
      subscriber_retry(io) {}

RedisRouter::RedisRouter(asio::io_context& io, RedisAddress address, absl::Duration timeout,
                         Listener listener)
    : io_(io),
      address_(std::move(address)),
      timeout_(timeout),
      listener_(std::move(listener)),
      refresh_retry_(io) {}

void RedisRouter::Start() {
  if (!address_.cluster) {
    Server& server = ServerAt(address_.endpoints.front());
    Connect(server, Role::kCommands);
    Connect(server, Role::kSubscriber);
    return;
  }
  slot_owner_.assign(kSlots, nullptr);
  RefreshSlots();
}

RedisRouter::Server& RedisRouter::ServerAt(const RedisEndpoint& endpoint) {
  for (const std::unique_ptr<Server>& server : servers_) {
    if (server->endpoint == endpoint) return *server;
  }
  servers_.push_back(std::make_unique<Server>(io_, endpoint));
  return *servers_.back();
}

RedisRouter::Server* RedisRouter::OwnerOf(absl::string_view key) {
  if (!address_.cluster) return servers_.empty() ? nullptr : servers_.front().get();
  if (!slots_known_) return nullptr;
  return slot_owner_[RedisSlot(key)];
}

void RedisRouter::Connect(Server& server, Role role) {
  RedisConnectionOptions options;
  options.endpoint = server.endpoint;
  options.username = address_.username;
  options.password = address_.password;
  options.database = address_.database;
  options.connect_timeout = timeout_;
  options.reply_timeout = timeout_;
  RedisConnection::Handlers handlers;
  Server* at = &server;
  // A connection replaced by a newer one for the same role (a server retired and given slots
  // again while it was still closing) is no longer heard of.
  uint64_t generation =
      ++(role == Role::kCommands ? server.commands_generation : server.subscriber_generation);
  auto current = [at, role, generation] {
    return generation ==
           (role == Role::kCommands ? at->commands_generation : at->subscriber_generation);
  };
  handlers.ready = [this, at, role, current] {
    if (!current()) return;
    LogInfo(absl::StrCat("redis: connected to ", Describe(at->endpoint),
                         role == Role::kCommands ? " (commands)" : " (subscriptions)"));
    (role == Role::kCommands ? at->commands_up_since : at->subscriber_up_since) = absl::Now();
    if (role == Role::kCommands ? at->commands_lost : at->subscriber_lost) {
      reconnects_.fetch_add(1, std::memory_order_relaxed);
    }
    // The address may lead to another server than the one the other connection reached (a
    // failover behind a proxy or a DNS name): that one is left for this one's.
    std::shared_ptr<RedisConnection>& made = role == Role::kCommands ? at->commands : at->subscriber;
    std::shared_ptr<RedisConnection>& other = role == Role::kCommands ? at->subscriber : at->commands;
    if (other && other->ready() && other->server_id() != made->server_id()) {
      other->Close(Unavailable(absl::StrCat(Describe(at->endpoint), " now leads to another server")));
    }
    if (role == Role::kSubscriber && listener_.subscriber_ready) listener_.subscriber_ready(*at);
    UpdateReady();
  };
  handlers.closed = [this, at, role, current](const absl::Status& why) {
    if (current()) OnClosed(*at, role, why);
  };
  if (role == Role::kSubscriber) {
    handlers.push = [this, at, current](const redisReply& reply) {
      if (current() && listener_.push) listener_.push(*at, reply);
    };
  }
  (role == Role::kCommands ? server.commands : server.subscriber) =
      RedisConnection::Open(io_, std::move(options), std::move(handlers));
}

void RedisRouter::OnClosed(Server& server, Role role, const absl::Status& why) {
  if (!server.retired) {
    LogWarning(absl::StrCat("redis: ", role == Role::kCommands ? "commands" : "subscriptions",
                            " connection down: ", why.message()));
    CountError();
    (role == Role::kCommands ? server.commands_lost : server.subscriber_lost) = true;
  }
  if (role == Role::kSubscriber && listener_.subscriber_closed) listener_.subscriber_closed(server);
  UpdateReady();
  if (server.retired) return;
  // A cluster node that went away may have handed its slots to another.
  if (address_.cluster) RefreshSlots();
  absl::Duration& backoff =
      role == Role::kCommands ? server.commands_backoff : server.subscriber_backoff;
  // The backoff starts over only after a connection that held: one that keeps being dropped
  // soon after connecting (a refused subscription, say) is made again ever more slowly.
  std::optional<absl::Time>& up_since =
      role == Role::kCommands ? server.commands_up_since : server.subscriber_up_since;
  if (up_since && absl::Now() - *up_since >= kStableConnection) backoff = kFirstBackoff;
  up_since.reset();
  asio::steady_timer& retry =
      role == Role::kCommands ? server.commands_retry : server.subscriber_retry;
  retry.expires_after(absl::ToChronoNanoseconds(Jittered(backoff)));
  backoff = std::min(backoff * 2, kMaxBackoff);
  Server* at = &server;
  retry.async_wait([this, at, role](const boost::system::error_code& error) {
    if (!error && !at->retired) Connect(*at, role);
  });
}

void RedisRouter::UpdateReady() {
  // Ready when every server that owns slots (the one server, standalone) is connected.
  bool ready = address_.cluster ? slots_known_ : !servers_.empty();
  for (const std::unique_ptr<Server>& server : servers_) {
    bool owns = !address_.cluster || std::find(slot_owner_.begin(), slot_owner_.end(),
                                               server.get()) != slot_owner_.end();
    if (owns && !(server->commands_ready() && server->subscriber_ready())) ready = false;
  }
  ready_.store(ready, std::memory_order_relaxed);
}

void RedisRouter::Command(absl::string_view key, std::vector<std::string> args,
                          RedisConnection::ReplyCallback done, RedisCommandOptions options) {
  Server* owner = OwnerOf(key);
  if (!owner) {
    asio::post(io_, [done = std::move(done)] { done(Unavailable("the slot map is not known")); });
    return;
  }
  SendTo(*owner, std::move(args), std::move(done), options, kMaxRedirects, /*asking=*/false);
}

void RedisRouter::SendTo(Server& server, std::vector<std::string> args,
                         RedisConnection::ReplyCallback done, const RedisCommandOptions& options,
                         int redirects_left, bool asking) {
  if (!server.commands_ready()) {
    asio::post(io_, [done = std::move(done), endpoint = Describe(server.endpoint)] {
      done(Unavailable(absl::StrCat("not connected to ", endpoint)));
    });
    return;
  }
  if (asking) server.commands->Send({"ASKING"}, [](absl::StatusOr<RedisReply>) {});
  std::vector<absl::string_view> command(args.begin(), args.end());
  if (options.append_server_ids) {
    command.push_back(server.commands->server_id());
    for (const std::unique_ptr<Server>& other : servers_) {
      if (other.get() != &server && !other->retired && other->commands_ready()) {
        command.push_back(other->commands->server_id());
      }
    }
  }
  server.commands->Send(command, [this, &server, connection = server.commands,
                                  args = std::move(args), done = std::move(done), options,
                                  redirects_left](absl::StatusOr<RedisReply> reply) mutable {
    if (!reply.ok() || ((*reply)->type == REDIS_REPLY_ERROR && !ExpectedError(ReplyText(**reply)))) {
      CountError();
    }
    if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR &&
        absl::StartsWith(ReplyText(**reply), "READONLY")) {
      // The master was made a replica (a failover): its address may lead to the new master
      // once connected again, and a replica is refused until then.
      connection->Close(Unavailable(absl::StrCat(Describe(server.endpoint), " became a replica")));
    }
    if (reply.ok() && (*reply)->type != REDIS_REPLY_ERROR && options.wait_replicas > 0) {
      server.awaiting_replicas.push_back(
          {connection, std::make_shared<RedisReply>(*std::move(reply)), std::move(done)});
      WaitForReplicas(server, options);
      return;
    }
    if (!reply.ok() || (*reply)->type != REDIS_REPLY_ERROR || !address_.cluster) {
      done(std::move(reply));
      return;
    }
    absl::string_view error = ReplyText(**reply);
    if (absl::StartsWith(error, "TRYAGAIN") && redirects_left > 0) {
      // A slot being migrated, the command's keys split between the two masters for a moment.
      auto retry = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(20));
      Server* at = &server;
      retry->async_wait([this, retry, at, args = std::move(args), done = std::move(done), options,
                         redirects_left](const boost::system::error_code&) mutable {
        SendTo(*at, std::move(args), std::move(done), options, redirects_left - 1,
               /*asking=*/false);
      });
      return;
    }
    RedisEndpoint target;
    bool moved = ParseRedirect(error, "MOVED", target);
    bool ask = !moved && ParseRedirect(error, "ASK", target);
    if (!moved && !ask) {
      done(std::move(reply));
      return;
    }
    if (moved) RefreshSlots();
    if (redirects_left == 0) {
      done(Unavailable(absl::StrCat("too many redirects, last: ", error)));
      return;
    }
    Server& next = ServerAt(target);
    if (next.retired || (!next.commands && !next.subscriber)) {
      // A master not connected yet: the slot map read connects it.
      RefreshSlots();
      done(Unavailable(absl::StrCat("redirected to ", Describe(target), ", not connected yet")));
      return;
    }
    SendTo(next, std::move(args), std::move(done), options, redirects_left - 1, ask);
  });
}

void RedisRouter::WaitForReplicas(Server& server, const RedisCommandOptions& options) {
  if (server.replica_wait_sent || server.awaiting_replicas.empty()) return;
  std::vector<Server::AwaitingReplicas> group;
  group.swap(server.awaiting_replicas);
  // WAIT counts the replicas that have every write made on its connection so far: the
  // commands that ran on an earlier connection cannot be vouched for.
  std::erase_if(group, [&](Server::AwaitingReplicas& command) {
    if (command.connection == server.commands && server.commands_ready()) return false;
    command.done(Unavailable("the connection that ran the write was lost before replicas "
                             "confirmed it"));
    return true;
  });
  if (group.empty()) return;
  server.replica_wait_sent = true;
  server.commands->Send(
      {"WAIT", std::to_string(options.wait_replicas),
       std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.wait_timeout)))},
      [this, &server, group = std::move(group), options](
          absl::StatusOr<RedisReply> acked) mutable {
        server.replica_wait_sent = false;
        absl::Status status;
        if (!acked.ok() || (*acked)->type != REDIS_REPLY_INTEGER) {
          CountError();
          status = Unavailable(absl::StrCat(
              "could not learn whether replicas have the write: ",
              acked.ok() ? ReplyText(**acked) : acked.status().message()));
        } else if ((*acked)->integer < options.wait_replicas) {
          status = Unavailable(absl::StrCat(
              "the write reached ", (*acked)->integer, " of the ", options.wait_replicas,
              " replicas wanted within ", absl::FormatDuration(options.wait_timeout),
              "; it may not survive a failover"));
        }
        for (Server::AwaitingReplicas& command : group) {
          if (status.ok()) {
            command.done(std::move(*command.reply));  // The command's own reply.
          } else {
            command.done(status);
          }
        }
        WaitForReplicas(server, options);  // Those answered meanwhile.
      });
}

void RedisRouter::RefreshSlots() {
  if (!address_.cluster) return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  refreshing_ = true;
  ReadSlots(0);
}

void RedisRouter::ReadSlots(size_t attempt) {
  // The seeds, then every master known: whichever answers first.
  std::vector<RedisEndpoint> candidates = address_.endpoints;
  for (const std::unique_ptr<Server>& server : servers_) candidates.push_back(server->endpoint);
  RedisEndpoint asked = candidates[attempt % candidates.size()];
  RedisConnectionOptions options;
  options.endpoint = asked;
  options.username = address_.username;
  options.password = address_.password;
  options.connect_timeout = timeout_;
  options.reply_timeout = timeout_;
  options.require_master = false;  // Any node of the cluster knows the slot map.
  auto failed = [this, attempt] {
    // Each candidate in turn, then a pause before the next round.
    refresh_retry_.expires_after(std::chrono::milliseconds(attempt % 4 == 3 ? 500 : 0));
    refresh_retry_.async_wait([this, attempt](const boost::system::error_code& error) {
      if (!error) ReadSlots(attempt + 1);
    });
  };
  RedisConnection::Handlers handlers;
  handlers.ready = [this, asked, failed] {
    slots_connection_->Send({"CLUSTER", "SLOTS"}, [this, asked, failed](
                                                      absl::StatusOr<RedisReply> reply) {
      std::shared_ptr<RedisConnection> connection = std::move(slots_connection_);
      if (connection) connection->Close(absl::CancelledError("done"));
      absl::Status applied = reply.ok() ? ApplySlots(asked, **reply) : reply.status();
      if (!applied.ok()) {
        LogWarning(absl::StrCat("redis: cannot read the cluster's slots from ", Describe(asked),
                                ": ", applied.message()));
        failed();
        return;
      }
      refreshing_ = false;
      if (refresh_again_) {
        refresh_again_ = false;
        RefreshSlots();
      }
    });
  };
  handlers.closed = [this, failed](const absl::Status& why) {
    if (why.code() == absl::StatusCode::kCancelled) return;
    slots_connection_.reset();
    failed();
  };
  slots_connection_ = RedisConnection::Open(io_, std::move(options), std::move(handlers));
}

absl::Status RedisRouter::ApplySlots(const RedisEndpoint& asked, const redisReply& reply) {
  if (absl::Status error = ReplyError(reply); !error.ok()) return error;
  if (reply.type != REDIS_REPLY_ARRAY) return absl::InternalError("CLUSTER SLOTS: not an array");
  std::vector<Server*> owners(kSlots, nullptr);
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply& range = *reply.element[i];
    if (range.type != REDIS_REPLY_ARRAY || range.elements < 3 ||
        range.element[0]->type != REDIS_REPLY_INTEGER ||
        range.element[1]->type != REDIS_REPLY_INTEGER ||
        range.element[2]->type != REDIS_REPLY_ARRAY || range.element[2]->elements < 2) {
      return absl::InternalError("CLUSTER SLOTS: an unexpected entry");
    }
    const redisReply& master = *range.element[2];
    RedisEndpoint endpoint;
    endpoint.host = std::string(ReplyText(*master.element[0]));
    // An empty or unknown host means "the address you asked".
    if (endpoint.host.empty() || endpoint.host == "?") endpoint.host = asked.host;
    if (master.element[1]->type != REDIS_REPLY_INTEGER || master.element[1]->integer <= 0 ||
        master.element[1]->integer > 65535) {
      return absl::InternalError("CLUSTER SLOTS: a bad port");
    }
    endpoint.port = static_cast<uint16_t>(master.element[1]->integer);
    Server& server = ServerAt(endpoint);
    long long first = range.element[0]->integer;
    long long last = range.element[1]->integer;
    for (long long slot = std::max(0LL, first); slot <= last && slot < static_cast<long long>(kSlots);
         ++slot) {
      owners[static_cast<size_t>(slot)] = &server;
    }
  }
  for (Server* owner : owners) {
    if (!owner) return absl::UnavailableError("CLUSTER SLOTS: some slots have no master");
  }
  slot_owner_ = std::move(owners);
  slots_known_ = true;
  for (const std::unique_ptr<Server>& server : servers_) {
    bool owns = std::find(slot_owner_.begin(), slot_owner_.end(), server.get()) != slot_owner_.end();
    if (owns && (server->retired || (!server->commands && !server->subscriber))) {
      server->retired = false;
      server->commands_backoff = server->subscriber_backoff = kFirstBackoff;
      Connect(*server, Role::kCommands);
      Connect(*server, Role::kSubscriber);
    } else if (!owns && !server->retired) {
      server->retired = true;
      server->commands_retry.cancel();
      server->subscriber_retry.cancel();
      // Commands already sent there are answered first (they may have run).
      if (server->commands) {
        server->commands->CloseWhenAnswered(absl::UnavailableError("no longer a master"));
      }
      if (server->subscriber) {
        server->subscriber->Close(absl::UnavailableError("no longer a master"));
      }
    }
  }
  UpdateReady();
  if (listener_.slots_changed) listener_.slots_changed();
  return absl::OkStatus();
}

}  // namespace herald
