// The Redis engine.
#include "engine/redis_engine.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <boost/asio/post.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "log.h"
#include "random_id.h"

namespace herald {
namespace {

namespace asio = boost::asio;

// A topic's epoch and offset outlive its history (a quiet topic keeps its position for a day):
// subscribers of a topic that is not published to for a while keep recovering.
constexpr absl::Duration kMinMetaTtl = absl::Hours(24);
// How long a gap read that failed waits before it is tried again, and how many times it is
// tried before the gap is given up as lost.
constexpr auto kFillRetry = std::chrono::milliseconds(200);
constexpr int kFillAttempts = 25;

// KEYS: meta, log, and the idempotency key when there is one.
// ARGV: channel, event bytes (no epoch, offset or time), epoch for a new topic, ephemeral (1/0),
//       history size, history TTL ms, meta TTL ms, idempotency window ms, has a key (1/0),
//       waits for replicas (1/0), the server's id (RedisServerId), the ids of the cluster's
//       other masters.
// Returns {epoch, offset, repeated (1/0)}. The event published and kept is the given bytes with
// the epoch (field 3), time (field 8, Redis' clock) and offset (field 2) appended: protobuf
// fields concatenate, so it is the whole Event, encoded once here and read as is by every node.
// A topic last written by a server that is gone (a restarted Redis, a master replaced by its
// replica) starts a new epoch: that server may have acknowledged writes this one never got, and
// their offsets must not be given again to other events. One written by another live master
// (its slot was moved here, keys and all) goes on.
constexpr char kPublishScript[] = R"lua(
local meta, log, idem = KEYS[1], KEYS[2], KEYS[3]
local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end
if ARGV[9] == '1' then
  local seen = redis.call('GET', idem)
  if seen then
    -- Written again (same value and TTL), so that the WAIT after this answer also covers the
    -- first publish, made on another connection.
    if ARGV[10] == '1' then redis.call('SET', idem, seen, 'KEEPTTL') end
    local colon = string.find(seen, ':', 1, true)
    return {string.sub(seen, 1, colon - 1), tonumber(string.sub(seen, colon + 1)), 1}
  end
end
local writer = redis.call('HGET', meta, 'server')
if writer ~= ARGV[11] then
  local live = not writer
  for i = 12, #ARGV do live = live or writer == ARGV[i] end
  if not live then
    redis.call('HSET', meta, 'epoch', ARGV[3], 'offset', 0)
    redis.call('DEL', log)
  end
  redis.call('HSET', meta, 'server', ARGV[11])
end
redis.call('HSETNX', meta, 'epoch', ARGV[3])
local epoch = redis.call('HGET', meta, 'epoch')
local offset = 0
if ARGV[4] ~= '1' then offset = redis.call('HINCRBY', meta, 'offset', 1) end
redis.call('PEXPIRE', meta, ARGV[7])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local event = ARGV[2] .. '\26' .. varint(#epoch) .. epoch .. '\64' .. varint(ms)
if offset > 0 then
  event = event .. '\16' .. varint(offset)
  if tonumber(ARGV[5]) > 0 then
    if offset == 1 then redis.call('DEL', log) end
    redis.call('XADD', log, 'MAXLEN', ARGV[5], string.format('%.0f-0', offset), 'e', event)
    redis.call('PEXPIRE', log, ARGV[6])
  end
end
if ARGV[9] == '1' then redis.call('SET', idem, epoch .. ':' .. offset, 'PX', ARGV[8]) end
redis.call('SPUBLISH', ARGV[1], event)
return {epoch, offset, 0}
)lua";

// KEYS: meta, log.
// ARGV: 'since', epoch, offset, epoch for a new topic, meta TTL ms, the server's id: the events
//       after that position when the log still holds every one of them (a new topic is
//       created);
//    or 'position', '', '', epoch for a new topic, meta TTL ms, the server's id: no events (a
//       new topic is created);
//    or 'latest', '', count: the last `count` events (nothing is created).
// Returns {epoch, offset, recovered (1/0), event...}.
constexpr char kReadScript[] = R"lua(
local meta, log = KEYS[1], KEYS[2]
if ARGV[1] ~= 'latest' and redis.call('HSETNX', meta, 'epoch', ARGV[4]) == 1 then
  redis.call('HSET', meta, 'server', ARGV[6])
  redis.call('PEXPIRE', meta, ARGV[5])
end
local position = redis.call('HMGET', meta, 'epoch', 'offset')
local epoch = position[1] or ''
local last = tonumber(position[2] or '0')
local out = {epoch, last, 0}
if ARGV[1] == 'latest' then
  local count = tonumber(ARGV[3])
  if count > 0 and epoch ~= '' then
    local entries = redis.call('XREVRANGE', log, '+', '-', 'COUNT', count)
    for i = #entries, 1, -1 do out[#out + 1] = entries[i][2][2] end
  end
  return out
end
local since_epoch, since = ARGV[2], tonumber(ARGV[3])
if not (since_epoch == epoch or (since_epoch == '' and since == 0)) or since > last then
  return out
end
if since == last then
  out[3] = 1
  return out
end
local entries = redis.call('XRANGE', log, string.format('%.0f-1', since), '+', 'COUNT', last - since)
if #entries == last - since and entries[1][1] == string.format('%.0f-0', since + 1) then
  out[3] = 1
  for i = 1, #entries do out[#out + 1] = entries[i][2][2] end
end
return out
)lua";

std::string Sha1Hex(absl::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string Millis(absl::Duration duration) {
  return std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

absl::Status Unavailable(absl::string_view why) {
  return absl::UnavailableError(absl::StrCat("the Redis engine is not available: ", why));
}

absl::Status BadReply(absl::string_view what) {
  return absl::InternalError(absl::StrCat("unexpected reply from Redis to ", what));
}

bool ReadInteger(const redisReply& reply, int64_t& value) {
  if (reply.type == REDIS_REPLY_INTEGER) {
    value = reply.integer;
    return true;
  }
  return false;
}

// {epoch, offset, flag, event...} from either script.
absl::StatusOr<TopicHistory> ParseHistory(const redisReply& reply) {
  if (absl::Status error = ReplyError(reply); !error.ok()) return error;
  int64_t offset = 0;
  int64_t recovered = 0;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 3 ||
      reply.element[0]->type != REDIS_REPLY_STRING || !ReadInteger(*reply.element[1], offset) ||
      !ReadInteger(*reply.element[2], recovered) || offset < 0) {
    return BadReply("a history read");
  }
  TopicHistory history;
  history.position.epoch = std::string(ReplyText(*reply.element[0]));
  history.position.offset = static_cast<uint64_t>(offset);
  history.recovered = recovered == 1;
  for (size_t i = 3; i < reply.elements; ++i) {
    if (reply.element[i]->type != REDIS_REPLY_STRING) return BadReply("a history read");
    std::shared_ptr<const EncodedEvent> event = EncodedEventFromBytes(ReplyText(*reply.element[i]));
    if (!event) return absl::InternalError("an event in Redis' history does not parse");
    history.events.push_back(std::move(event));
  }
  return history;
}


}  // namespace

RedisEngine::RedisEngine(EventSink& sink, RedisEngineOptions options)
    : sink_(sink),
      options_(std::move(options)),
      rules_(RulesOrDefaults(options_.rules, options_.history_size, options_.history_ttl)),
      // Pub/sub ignores the database number: the channels of another database's gateways must
      // not be this one's.
      prefix_(options_.address.database == 0
                  ? options_.prefix
                  : absl::StrCat(options_.prefix, ":db", options_.address.database)),
      publish_script_{kPublishScript, Sha1Hex(kPublishScript)},
      read_script_{kReadScript, Sha1Hex(kReadScript)},
      work_(io_.get_executor()),
      router_(io_, options_.address, options_.timeout,
              RedisRouter::Listener{
                  .subscriber_ready = [this](RedisRouter::Server& server) { Resubscribe(); },
                  .subscriber_closed =
                      [this](RedisRouter::Server& server) { OnSubscriberClosed(server); },
                  .push = [this](RedisRouter::Server& server,
                                 const redisReply& reply) { OnPush(server, reply); },
                  .slots_changed = [this] { Resubscribe(); },
              }) {
  asio::post(io_, [this] { router_.Start(); });
  thread_ = std::thread([this] { io_.run(); });
}

RedisEngine::~RedisEngine() {
  // Pending callbacks are dropped, not run: their callers are gone by now.
  io_.stop();
  thread_.join();
}

std::string RedisEngine::TagOf(absl::string_view topic) const {
  // The hash tag keeps all of a topic's keys and its channel in one cluster slot (topics
  // cannot contain braces).
  return absl::StrCat(prefix_, ":{", topic, "}");
}

void RedisEngine::ForgetSubscription(Watch& watch) {
  watch.server = nullptr;
  watch.subscribed = false;
  watch.unconfirmed = 0;
  // What was published meanwhile is read from history once subscribed again.
  watch.resync = watch.ResumePoint().has_value();
}

RedisEngine::TopicKeys RedisEngine::KeysFor(absl::string_view topic) const {
  std::string tag = TagOf(topic);
  return {absl::StrCat(tag, ":meta"), absl::StrCat(tag, ":log"), tag, absl::StrCat(tag, ":key:")};
}

void RedisEngine::OnSubscriberClosed(RedisRouter::Server& server) {
  // The subscriptions made there ended with the connection: they are made again (on that
  // server or the topic's new owner), and what was published meanwhile is read from history.
  for (auto it = watches_.begin(); it != watches_.end();) {
    Watch& watch = it->second;
    if (watch.server != &server) {
      ++it;
      continue;
    }
    std::vector<std::function<void()>> waiting;
    waiting.swap(watch.after_subscribe);
    ForgetSubscription(watch);
    if (!watch.wanted) {
      watches_.erase(it++);
    } else {
      ++it;
    }
    // Each read waiting for its subscription now fails (the watch is not subscribed).
    for (std::function<void()>& read : waiting) read();
  }
}

void RedisEngine::Resubscribe() {
  for (auto& [topic, watch] : watches_) {
    if (!watch.wanted) continue;
    RedisRouter::Server* owner = router_.OwnerOf(TagOf(topic));
    if (watch.server == owner && (watch.subscribed || watch.unconfirmed > 0)) continue;
    if (watch.server && watch.server != owner) {
      // The topic moved to another master: leave the old one, follow it on the new.
      if (watch.subscribed && watch.server->subscriber_ready()) {
        watch.server->subscriber->Send({"SUNSUBSCRIBE", KeysFor(topic).channel}, nullptr);
      }
      ForgetSubscription(watch);
    }
    if (owner && owner->subscriber_ready()) SendSubscription(topic, watch, /*subscribe=*/true);
  }
}

void RedisEngine::RunScript(const Script& script, const std::string& topic,
                            std::vector<std::string> args, RedisConnection::ReplyCallback done,
                            RedisCommandOptions options) {
  std::vector<std::string> command = {"EVALSHA", script.sha1};
  command.insert(command.end(), args.begin(), args.end());
  std::string tag = TagOf(topic);
  router_.Command(
      tag, std::move(command),
      [this, &script, tag, args = std::move(args), done = std::move(done),
       options](absl::StatusOr<RedisReply> reply) mutable {
        bool unknown_script = reply.ok() && (*reply)->type == REDIS_REPLY_ERROR &&
                              absl::StartsWith(ReplyText(**reply), "NOSCRIPT");
        if (!unknown_script) {
          done(std::move(reply));
          return;
        }
        std::vector<std::string> command = {"EVAL", script.source};
        command.insert(command.end(), args.begin(), args.end());
        router_.Command(tag, std::move(command), std::move(done), options);
      },
      options);
}

// Idempotency keys live in Redis with the window as their TTL, bounded by Redis's memory: no
// per-publisher share is kept here (`publisher` is not used).
void RedisEngine::Publish(const herald::v1::PublishRequest& request, const std::string& publisher,
                          PublishCallback done) {
  // The epoch, offset and time are added by the script.
  std::string event = EventFromPublish(request, /*time_unix_ms=*/0).SerializeAsString();
  TopicKeys keys = KeysFor(request.topic());
  const std::string& key = request.idempotency_key();
  // The idempotency key is declared only when there is one: a cluster refuses a command
  // naming a key missing from a slot being migrated.
  std::vector<std::string> args = {key.empty() ? "2" : "3",
                                   std::move(keys.meta),
                                   std::move(keys.log)};
  if (!key.empty()) args.push_back(absl::StrCat(keys.key_prefix, key));
  args.push_back(std::move(keys.channel));
  args.push_back(std::move(event));
  args.push_back(RandomId(6));
  args.push_back(request.ephemeral() ? "1" : "0");
  std::shared_ptr<const TopicRules> rules = rules_->current();
  const TopicRule& rule = rules->For(request.topic());
  args.push_back(std::to_string(rule.history_size));
  args.push_back(Millis(rule.history_ttl));
  args.push_back(Millis(std::max(rule.history_ttl, kMinMetaTtl)));
  args.push_back(Millis(options_.idempotency_window));
  args.push_back(key.empty() ? "0" : "1");
  // An ephemeral event has nothing a failover could lose.
  int wait_replicas = request.ephemeral() ? 0 : options_.wait_replicas;
  args.push_back(wait_replicas > 0 ? "1" : "0");
  RedisCommandOptions options{.append_server_ids = true,
                              .wait_replicas = wait_replicas,
                              .wait_timeout = options_.timeout / 2};
  asio::post(io_, [this, topic = request.topic(), args = std::move(args), options,
                   done = std::move(done)]() mutable {
    RunScript(
        publish_script_, topic, std::move(args),
              [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
                if (!reply.ok()) {
                  done(reply.status());
                  return;
                }
                const redisReply& answer = **reply;
                if (absl::Status error = ReplyError(answer); !error.ok()) {
                  done(error);
                  return;
                }
                int64_t offset = 0;
                if (answer.type != REDIS_REPLY_ARRAY || answer.elements != 3 ||
                    answer.element[0]->type != REDIS_REPLY_STRING ||
                    !ReadInteger(*answer.element[1], offset) || offset < 0) {
                  done(BadReply("a publish"));
                  return;
                }
                done(TopicPosition{std::string(ReplyText(*answer.element[0])),
                                   static_cast<uint64_t>(offset)});
              },
        options);
  });
}

void RedisEngine::RemoveHistory(absl::string_view topic, std::function<void(absl::Status)> done) {
  asio::post(io_, [this, topic = std::string(topic), done = std::move(done)]() mutable {
    router_.Command(TagOf(topic), {"DEL", KeysFor(topic).log},
                    [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
                      if (!reply.ok()) {
                        done(reply.status());
                        return;
                      }
                      done(ReplyError(**reply));
                    });
  });
}

void RedisEngine::ReadSince(const std::string& topic, const std::optional<TopicPosition>& since,
                            HistoryCallback done) {
  TopicKeys keys = KeysFor(topic);
  RunScript(read_script_, topic,
            {"2", std::move(keys.meta), std::move(keys.log), since ? "since" : "position",
             since ? since->epoch : "", since ? std::to_string(since->offset) : "", RandomId(6),
             Millis(std::max(rules_->current()->For(topic).history_ttl, kMinMetaTtl))},
            [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
              if (!reply.ok()) {
                done(reply.status());
                return;
              }
              done(ParseHistory(**reply));
            },
            {.append_server_ids = true});
}

// Reading creates nothing in Redis that outlives its TTL: no share is kept (`subscriber`).
void RedisEngine::Recover(absl::string_view topic_name, const std::optional<TopicPosition>& since,
                          const std::string& subscriber, HistoryCallback done) {
  asio::post(io_, [this, topic = std::string(topic_name), since, done = std::move(done)]() mutable {
    // A position read before the topic's subscription is in place could miss the events
    // published in between: the read waits for it.
    auto read = [this, topic, since, done = std::move(done)]() mutable {
      auto watch = watches_.find(topic);
      if (watch != watches_.end() && watch->second.wanted && !watch->second.subscribed) {
        done(Unavailable("not subscribed in Redis"));
        return;
      }
      ReadSince(topic, since,
                [this, topic, done = std::move(done)](absl::StatusOr<TopicHistory> history) {
                  if (history.ok()) NoteSubscriberPosition(topic, history->position);
                  done(std::move(history));
                });
    };
    auto watch = watches_.find(topic);
    if (watch != watches_.end() && watch->second.wanted &&
        (!watch->second.subscribed || watch->second.unconfirmed > 0)) {
      if (!watch->second.server || !watch->second.server->subscriber_ready()) {
        read();  // Fails: not subscribed.
        return;
      }
      watch->second.after_subscribe.push_back(std::move(read));
      return;
    }
    read();
  });
}

void RedisEngine::ReadHistory(absl::string_view topic_name, size_t limit, HistoryCallback done) {
  TopicKeys keys = KeysFor(topic_name);
  std::vector<std::string> args = {"2", std::move(keys.meta), std::move(keys.log), "latest", "",
                                   std::to_string(limit)};
  asio::post(io_, [this, topic = std::string(topic_name), args = std::move(args),
                   done = std::move(done)]() mutable {
    RunScript(read_script_, topic, std::move(args),
              [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
                if (!reply.ok()) {
                  done(reply.status());
                  return;
                }
                done(ParseHistory(**reply));
              });
  });
}

void RedisEngine::SetInterest(absl::string_view topic_name, bool interested) {
  asio::post(io_, [this, topic = std::string(topic_name), interested] {
    if (interested) {
      Watch& watch = watches_[topic];
      if (watch.wanted) return;
      watch.wanted = true;
      RedisRouter::Server* owner = router_.OwnerOf(TagOf(topic));
      if (watch.server && watch.server != owner) {
        // Left on a master that no longer owns the topic: followed on the owner instead.
        ForgetSubscription(watch);
      }
      if (owner && owner->subscriber_ready()) SendSubscription(topic, watch, /*subscribe=*/true);
      return;
    }
    auto it = watches_.find(topic);
    if (it == watches_.end() || !it->second.wanted) return;
    Watch& watch = it->second;
    watch.wanted = false;
    watch.delivered.reset();
    watch.floor.reset();
    watch.resync = false;
    watch.filling = false;
    watch.held.clear();
    watch.held_overflow = false;
    if ((watch.subscribed || watch.unconfirmed > 0) && watch.server &&
        watch.server->subscriber_ready()) {
      SendSubscription(topic, watch, /*subscribe=*/false);
      return;  // Forgotten once Redis confirms.
    }
    std::vector<std::function<void()>> waiting;
    waiting.swap(watch.after_subscribe);
    watches_.erase(it);
    for (std::function<void()>& read : waiting) read();
  });
}

void RedisEngine::SendSubscription(const std::string& topic, Watch& watch, bool subscribe) {
  if (subscribe && !watch.server) watch.server = router_.OwnerOf(TagOf(topic));
  ++watch.unconfirmed;
  std::string channel = KeysFor(topic).channel;
  watch.server->subscriber->Send({subscribe ? "SSUBSCRIBE" : "SUNSUBSCRIBE", channel}, nullptr);
}

void RedisEngine::OnPush(RedisRouter::Server& server, const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2 ||
      reply.element[0]->type != REDIS_REPLY_STRING) {
    if (reply.type == REDIS_REPLY_ERROR) {
      // A subscription refused (MOVED to another master, NOPERM, an old Redis without sharded
      // pub/sub...). Its reply does not say which: the connection is made again, every topic
      // subscribed anew and read from history (and a cluster's slot map read again).
      LogWarning(absl::StrCat("redis: subscriptions: ", ReplyText(reply)));
      router_.CountError();
      router_.RefreshSlots();
      server.subscriber->Close(absl::UnavailableError(
          absl::StrCat("a subscription was refused: ", ReplyText(reply))));
    }
    return;
  }
  absl::string_view kind = ReplyText(*reply.element[0]);
  absl::string_view channel = ReplyText(*reply.element[1]);
  if (kind == "smessage" && reply.elements == 3) {
    OnMessage(ReplyText(*reply.element[2]));
    return;
  }
  if (kind != "ssubscribe" && kind != "sunsubscribe") return;  // A pong.
  // The channel is "<prefix>:{<topic>}".
  absl::string_view topic = channel;
  if (!absl::ConsumePrefix(&topic, prefix_) || !absl::ConsumePrefix(&topic, ":{") ||
      !absl::ConsumeSuffix(&topic, "}")) {
    return;
  }
  OnConfirmation(server, std::string(topic), kind == "ssubscribe");
}

void RedisEngine::OnConfirmation(RedisRouter::Server& server, const std::string& topic,
                                 bool subscribed) {
  auto it = watches_.find(topic);
  if (it == watches_.end() || it->second.server != &server) return;
  Watch& watch = it->second;
  watch.subscribed = subscribed;
  if (watch.unconfirmed == 0 && !subscribed) {
    // Unasked: Redis ended the subscription itself (its slot moved to another master).
    watch.resync = watch.ResumePoint().has_value();
    if (watch.wanted) router_.RefreshSlots();
  }
  if (watch.unconfirmed > 0) --watch.unconfirmed;
  if (watch.unconfirmed > 0) return;
  std::vector<std::function<void()>> waiting;
  if (!watch.wanted) {
    if (!watch.subscribed) {
      waiting.swap(watch.after_subscribe);
      watches_.erase(it);
      for (std::function<void()>& read : waiting) read();
    }
    return;
  }
  if (!watch.subscribed) return;
  if (watch.resync && watch.ResumePoint()) StartFill(topic, watch, *watch.ResumePoint());
  watch.resync = false;
  waiting.swap(watch.after_subscribe);
  for (std::function<void()>& read : waiting) read();
}

void RedisEngine::OnMessage(absl::string_view payload) {
  std::shared_ptr<const EncodedEvent> event = EncodedEventFromBytes(payload);
  if (!event) {
    LogError("redis: a published event does not parse; dropped");
    router_.CountError();
    return;
  }
  std::string topic = event->topic();
  HandleEvent(topic, std::move(event));
}

void RedisEngine::HandleEvent(const std::string& topic,
                              std::shared_ptr<const EncodedEvent> event) {
  auto it = watches_.find(topic);
  if (it == watches_.end() || !it->second.wanted) return;
  Watch& watch = it->second;
  if (event->offset() == 0) {  // Ephemeral: no position, never held.
    sink_.OnEvent(std::move(event));
    return;
  }
  if (watch.filling) {
    if (watch.held.size() < kMaxHeldEvents) {
      watch.held.push_back(std::move(event));
    } else {
      watch.held_overflow = true;  // Read from history after the held ones.
    }
    return;
  }
  if (!watch.delivered) {
    Deliver(watch, std::move(event));
    return;
  }
  const TopicPosition& delivered = *watch.delivered;
  bool same_epoch = event->epoch() == delivered.epoch;
  uint64_t next = same_epoch ? delivered.offset + 1 : 1;
  if (same_epoch && event->offset() < next) return;  // Delivered already.
  if (event->offset() == next) {
    Deliver(watch, std::move(event));
    return;
  }
  // Events before this one are missing: they are read from history first.
  TopicPosition from = same_epoch ? delivered : TopicPosition{event->epoch(), 0};
  watch.held.push_back(std::move(event));
  StartFill(topic, watch, from);
}

void RedisEngine::NoteSubscriberPosition(const std::string& topic, const TopicPosition& position) {
  auto it = watches_.find(topic);
  if (it == watches_.end() || !it->second.wanted || it->second.delivered) return;
  // Nothing delivered yet: a subscriber continues from this position, so a resync after a
  // lost subscription reads from the lowest one handed out.
  std::optional<TopicPosition>& floor = it->second.floor;
  if (!floor || floor->epoch != position.epoch || position.offset < floor->offset) {
    floor = position;
  }
}

void RedisEngine::Deliver(Watch& watch, std::shared_ptr<const EncodedEvent> event) {
  watch.floor.reset();
  watch.delivered = TopicPosition{event->epoch(), event->offset()};
  sink_.OnEvent(std::move(event));
}

void RedisEngine::StartFill(const std::string& topic, Watch& watch, const TopicPosition& from,
                            int attempt) {
  watch.filling = true;
  uint64_t generation = ++watch.fill_generation;
  ReadSince(topic, from,
            [this, topic, from, generation, attempt](absl::StatusOr<TopicHistory> history) {
              FinishFill(topic, from, generation, attempt, std::move(history));
            });
}

void RedisEngine::FinishFill(const std::string& topic, const TopicPosition& from,
                             uint64_t generation, int attempt,
                             absl::StatusOr<TopicHistory> history) {
  auto it = watches_.find(topic);
  if (it == watches_.end() || !it->second.wanted || !it->second.filling ||
      it->second.fill_generation != generation) {
    return;  // Not wanted any more, or a later fill took over.
  }
  Watch& watch = it->second;
  if (!history.ok() && attempt < kFillAttempts) {
    // Redis is away: tried again shortly (the held events wait, within their bound).
    auto retry = std::make_shared<asio::steady_timer>(io_, kFillRetry);
    retry->async_wait([this, retry, topic, from, generation,
                       attempt](const boost::system::error_code& error) {
      auto it = watches_.find(topic);
      if (error || it == watches_.end() || !it->second.filling ||
          it->second.fill_generation != generation) {
        return;
      }
      StartFill(topic, it->second, from, attempt + 1);
    });
    return;
  }
  if (history.ok() && !history->recovered && history->position.epoch != from.epoch &&
      !history->position.epoch.empty()) {
    // The topic started a new epoch meanwhile (Redis lost it, or it expired): its events are
    // read from the first.
    StartFill(topic, watch, TopicPosition{history->position.epoch, 0});
    return;
  }
  watch.filling = false;
  if (history.ok() && history->recovered) {
    // Live events of an older epoch, held while the topic started over, are stale.
    const std::string& epoch = history->position.epoch;
    std::erase_if(watch.held, [&](const std::shared_ptr<const EncodedEvent>& event) {
      return event->epoch() != epoch;
    });
    for (std::shared_ptr<const EncodedEvent>& event : history->events) {
      if (!watch.delivered || event->epoch() != watch.delivered->epoch ||
          event->offset() > watch.delivered->offset) {
        Deliver(watch, std::move(event));
      }
    }
  } else {
    gaps_lost_.fetch_add(1, std::memory_order_relaxed);
    LogWarning(absl::StrCat("redis: topic ", topic, ": the events after ", from.epoch, ":",
                            from.offset, " cannot be read from history (",
                            history.ok() ? "no longer there" : history.status().message(),
                            "); its subscribers on this node missed them"));
    watch.delivered.reset();  // Continues from the next live event.
    watch.floor.reset();
    watch.resync = false;
    // Its subscribers are told (closed, to resubscribe: not recovered), before anything newer.
    watch.held.clear();
    sink_.OnEventsLost(topic);
  }
  std::vector<std::shared_ptr<const EncodedEvent>> held;
  held.swap(watch.held);
  bool overflow = std::exchange(watch.held_overflow, false);
  for (std::shared_ptr<const EncodedEvent>& event : held) HandleEvent(topic, std::move(event));
  // Events dropped past the bound came after the held ones: read them too.
  auto again = watches_.find(topic);
  if (overflow && again != watches_.end() && !again->second.filling && again->second.delivered) {
    StartFill(topic, again->second, *again->second.delivered);
  }
}

}  // namespace herald
