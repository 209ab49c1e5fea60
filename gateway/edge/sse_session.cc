// Server-Sent Events session.
#include "edge/sse_session.h"

#include "edge/queue_writer.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "herald/v1/websocket.pb.h"
#include "codec/encoded_event.h"
#include "codec/resume_token.h"
#include "codec/sse_encoding.h"
#include "loop_check.h"

namespace herald {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::chrono::seconds kCloseDeadline{10};

// An HTTP chunk's header: its size in hex and CRLF (MessageFraming's header).
size_t WriteChunkHeader(size_t payload_bytes, char* out) {
  char digits[16];
  size_t count = 0;
  do {
    digits[count++] = "0123456789abcdef"[payload_bytes & 0xf];
    payload_bytes >>= 4;
  } while (payload_bytes != 0);
  for (size_t i = 0; i < count; ++i) out[i] = digits[count - 1 - i];
  out[count] = '\r';
  out[count + 1] = '\n';
  return count + 2;
}

}  // namespace

SseSession::SseSession(EdgeStream stream, EdgeContext& context, size_t shard)
    : stream_(std::move(stream)),
      context_(context),
      shard_(shard),
      queue_(context.config.max_queue_bytes, context.config.max_replay_bytes, {},
             &context.hub.load(shard), TransportKind::kSse),
      ping_timer_(stream_.get_executor()),
      close_deadline_(stream_.get_executor()) {}

SseSession::~SseSession() {
  if (client_) client_->End();
}

void SseSession::Run(const http::request<http::string_body>& request,
                     std::vector<std::string> topics, std::string_view resume_token,
                     Grant grant, ConnectionSlot slot) {
  slot_ = std::move(slot);
  stream_.expires_never();
  // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
  chunked_ = request.version() >= 11;
  if (chunked_) queue_.set_framing({.header = &WriteChunkHeader, .trailer = "\r\n"});
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Server: herald\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n";
  head += chunked_ ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n";
  if (auto origin = request.find(http::field::origin); origin != request.end()) {
    // Admitted requests come from allowed origins; trusted ones get credentials (the cookie),
    // the rest a plain CORS answer.
    std::string value(origin->value());
    if (context_.config.OriginTrusted(value)) {
      absl::StrAppend(&head, "Access-Control-Allow-Origin: ", value,
                      "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
    } else {
      head += "Access-Control-Allow-Origin: *\r\n";
    }
  }
  head += "\r\n";
  // The head goes first, outside chunk framing.
  queue_.PushUnframed(std::make_shared<const std::string>(std::move(head)));

  // The head and retry go out at once; `herald.connected` follows once the subscriptions hold.
  Push(std::make_shared<std::string>(
      absl::StrCat("retry: ", absl::ToInt64Milliseconds(context_.config.sse_retry), "\n\n")));
  Flush();
  if (ended_) return;  // The peer was gone already.
  std::optional<std::vector<TopicPosition>> since = DecodeResumeToken(
      absl::string_view(resume_token.data(), resume_token.size()), topics.size());
  std::vector<TopicRequest> requests;
  for (size_t i = 0; i < topics.size(); ++i) {
    requests.push_back({std::move(topics[i]),
                        since ? std::optional<TopicPosition>((*since)[i]) : std::nullopt});
  }
  client_ = std::make_shared<Client>(context_.clients, shard_, LoopOf(stream_.get_executor()),
                                     std::move(grant), *this);
  client_->Connect(std::move(requests));
  WatchPeer();
  SchedulePing();
}

bool SseSession::QueueConnected(const herald::v1::Connected& connected) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  return Push(std::make_shared<std::string>(
      SseControlFrame("herald.connected", ConnectedJson(connected))));
}

bool SseSession::QueueUnsubscribed(const std::string& topic) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  return Push(std::make_shared<std::string>(
      SseControlFrame("herald.unsubscribed", UnsubscribedJson(topic))));
}

void SseSession::WatchPeer() {
  // Whatever the client sends is read and ignored: one buffer per loop serves every session.
  static thread_local std::array<char, 512> ignored_bytes;
  stream_.AsyncReadWhenReady(
      [] { return boost::asio::buffer(ignored_bytes); },
      [self = shared_from_this()](beast::error_code error, size_t) {
        if (error) {
          self->EndConnection();
          return;
        }
        self->WatchPeer();
      });
}

void SseSession::SchedulePing() {
  ping_timer_.expires_after(absl::ToChronoMilliseconds(context_.config.sse_ping_interval));
  ping_timer_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (error || self->ended_) return;
    // A peer that stopped reading leaves a write pending: past the deadline it is cut, even on a
    // topic too quiet to ever fill its queue.
    if (self->queue_.writing() &&
        std::chrono::steady_clock::now() - self->write_started_ >
            absl::ToChronoMilliseconds(self->context_.config.write_timeout)) {
      if (self->client_) self->client_->CutOff(kDisconnectSlowConsumer);
      self->EndConnection();
      return;
    }
    if (!self->wrote_since_ping_ && !self->closing_) {
      static const auto kPing = std::make_shared<const std::string>(": ping\n\n");
      if (!self->Push(kPing)) {
        self->client_->Disconnect(kDisconnectSlowConsumer);
      } else {
        self->Flush();
      }
    }
    self->wrote_since_ping_ = false;
    if (!self->ended_) self->SchedulePing();
  });
}

size_t SseSession::ReplayCost(const EncodedEvent& event) const {
  // The body (with, at most, an `"epoch":"…",` member) plus an `id:` line: at most an epoch, a
  // dash, 20 digits and a dot per topic. Epochs not known yet (a subscribe being answered) are
  // taken to be as long as this event's: one engine makes them all alike.
  size_t id_line = 5;
  for (const TopicPosition& position : client_->positions()) {
    id_line += std::max(position.epoch.size(), event.epoch().size()) + 22;
  }
  return event.sse_body().size() + event.epoch().size() + 11 + id_line;
}

Transport::Queued SseSession::QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                                         Subscriber::Delivery delivery) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  if (closing_ || ended_) return Queued::kDropped;
  std::shared_ptr<const std::string> body = SharedBytes(
      event, event->sse_body(delivery.new_epoch ? EpochField::kIncluded : EpochField::kLeftOut));
  bool queued = true;
  if (event->offset() != 0) {
    id_line_.assign("id: ");
    AppendResumeToken(client_->positions(), &id_line_);
    id_line_.push_back('\n');
    queued = (delivery.replayed ||
              RoomForLive(queue_, stream_, id_line_.size() + body->size(),
                          context_.hub.load(shard_))) &&
             queue_.PushCopy(id_line_, delivery.replayed);
  } else if (!delivery.replayed) {
    queued = RoomForLive(queue_, stream_, body->size(), context_.hub.load(shard_));
  }
  queued = queued && (delivery.replayed ? queue_.PushReplayed(std::move(body))
                                        : queue_.Push(std::move(body)));
  if (!queued) return Queued::kNoRoom;
  if (!delivery.replayed) queue_.SampleDeliveryLag(event->time_unix_ms());
  return Queued::kYes;
}

bool SseSession::Push(std::shared_ptr<const std::string> bytes) {
  if (closing_ || ended_) return true;  // Dropped: the connection is closing.
  return RoomForLive(queue_, stream_, bytes->size(), context_.hub.load(shard_)) &&
         queue_.Push(std::move(bytes));
}

void SseSession::Flush() {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  if (queue_.writing() || !queue_.has_pending() || ended_) return;
  write_started_ = std::chrono::steady_clock::now();
  wrote_since_ping_ = true;
  WriteOut(shared_from_this(), stream_, queue_);
}

void SseSession::OnWrite(beast::error_code error) {
  ContinueWrites(shared_from_this(), queue_, error);
}

void SseSession::AfterWrites() {
  // The disconnect event (and the end of the chunked body) went out: the connection ends, over
  // TLS with close_notify (a cut stream is then told from an ended one).
  if (closing_ && !queue_.has_pending()) {
    stream_.SendCloseNotify();
    EndConnection();
  }
}

bool SseSession::Close(const Disconnect& disconnect) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  if (closing_ || ended_) return false;
  closing_ = disconnect;
  if (disconnect.code == kDisconnectSlowConsumer.code) queue_.DropPending();
  int64_t reconnect_after_ms = absl::ToInt64Milliseconds(disconnect.reconnect_after);
  // An EventSource waits `retry:` before it reconnects, and keeps that wait for later
  // reconnects: the usual --sse_retry plus the suggested delay, never less than before.
  if (reconnect_after_ms > 0) {
    queue_.PushLastWords(std::make_shared<std::string>(absl::StrCat(
        "retry: ", absl::ToInt64Milliseconds(context_.config.sse_retry) + reconnect_after_ms,
        "\n\n")));
  }
  queue_.PushLastWords(std::make_shared<std::string>(SseControlFrame(
      "herald.disconnect",
      DisconnectJson(disconnect.code, disconnect.reason, reconnect_after_ms))));
  static const auto kLastChunk = std::make_shared<const std::string>("0\r\n\r\n");
  if (chunked_) queue_.PushUnframed(kLastChunk);
  close_deadline_.expires_after(kCloseDeadline);
  close_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (!error) self->EndConnection();
  });
  Flush();
  return true;
}

void SseSession::EndConnection() {
  if (ended_) return;
  ended_ = true;
  if (client_) client_->TransportClosed();
  ping_timer_.cancel();
  close_deadline_.cancel();
  beast::error_code ignored;
  stream_.tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.tcp().socket().close(ignored);
}

}  // namespace herald
