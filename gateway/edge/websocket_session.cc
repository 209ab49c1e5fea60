// WebSocket session.
#include "edge/websocket_session.h"

#include "edge/queue_writer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "hub/error_proto.h"
#include "hub/publish_validation.h"
#include "hub/topic.h"
#include "log.h"
#include "random_id.h"

namespace herald {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// How long a close may wait for a stuck write before the socket is dropped.
constexpr std::chrono::seconds kCloseDeadline{10};

std::chrono::steady_clock::duration ToChrono(absl::Duration duration) {
  return absl::ToChronoMilliseconds(duration);
}

}  // namespace

WebSocketSession::WebSocketSession(EdgeStream stream, EdgeContext& context, size_t shard)
    : stream_(std::move(stream)),
      context_(context),
      shard_(shard),
      client_id_(RandomId(8)),
      reader_(context.config.max_message_bytes),
      queue_(context.config.max_queue_bytes, context.config.max_replay_bytes,
             {.header = &WriteWsBinaryHeader, .trailer = {}}),
      command_limiter_(context.config.ws_command_rate,
                       std::max(1.0, 2 * context.config.ws_command_rate)),
      expiry_timer_(stream_.get_executor()),
      liveness_timer_(stream_.get_executor()),
      close_deadline_(stream_.get_executor()) {}

WebSocketSession::~WebSocketSession() {
  if (!attached_) return;
  context_.hub.Detach(shard_, this);
  context_.metrics.ConnectionClosed(TransportKind::kWebSocket);
}

std::string WebSocketUpgradeProblem(const http::request<http::string_body>& request,
                                    int* status) {
  *status = 400;
  if (request.method() != http::verb::get) return "a WebSocket upgrade must be a GET";
  if (request[http::field::sec_websocket_version] != "13") {
    *status = 426;
    return "Sec-WebSocket-Version must be 13";
  }
  std::string_view key = request[http::field::sec_websocket_key];
  if (!IsValidWsKey(key)) return "Sec-WebSocket-Key is missing or invalid";
  return "";
}

void WebSocketSession::Run(http::request<http::string_body> request,
                           std::vector<std::string> topics, Grant grant, ConnectionSlot slot,
                           std::string_view early_bytes) {
  grant_ = std::move(grant);
  slot_ = std::move(slot);
  stream_.expires_never();
  queue_.PushUnframed(std::make_shared<const std::string>(absl::StrCat(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ",
      WsAcceptKey(request[http::field::sec_websocket_key]), "\r\nServer: herald\r\n\r\n")));
  Flush();
  if (ended_) return;
  while (!early_bytes.empty()) {
    boost::asio::mutable_buffer room = reader_.ReadBuffer();
    size_t size = std::min(room.size(), early_bytes.size());
    std::memcpy(room.data(), early_bytes.data(), size);
    reader_.Commit(size);
    early_bytes.remove_prefix(size);
  }
  attached_ = true;
  context_.metrics.ConnectionOpened(TransportKind::kWebSocket);
  ScheduleExpiry();
  ScheduleLiveness();
  std::vector<TopicRequest> requests;
  for (std::string& topic : topics) requests.push_back({std::move(topic), std::nullopt});
  context_.hub.Subscribe(
      shard_, this, std::move(requests),
      [self = shared_from_this()](
          std::vector<absl::StatusOr<herald::v1::SubscribeResult>> results) {
        self->OnConnected(std::move(results));
      });
}

void WebSocketSession::OnConnected(
    std::vector<absl::StatusOr<herald::v1::SubscribeResult>> results) {
  herald::v1::ServerMessage message;
  herald::v1::Connected* connected = message.mutable_connected();
  connected->set_client_id(client_id_);
  connected->set_node(context_.config.node);
  for (absl::StatusOr<herald::v1::SubscribeResult>& result : results) {
    if (result.ok()) *connected->add_subscriptions() = *std::move(result);
  }
  Send(message);
  if (context_.draining.load()) Close(kDisconnectShutdown);
  if (std::optional<Disconnect> refused = RefusedTopicDisconnect(results)) Close(*refused);
  ReadNext();
}

void WebSocketSession::ScheduleLiveness() {
  liveness_timer_.expires_after(ToChrono(context_.config.ws_ping_interval));
  liveness_timer_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (error || self->ended_) return;
    // A peer that answered nothing for two intervals, not even the last ping, is gone.
    static const auto kPing =
        std::make_shared<const std::string>(WsControlFrame(WsOpcode::kPing, {}));
    bool silent = !self->heard_from_peer_;
    self->heard_from_peer_ = false;
    if (silent && self->ping_unanswered_) {
      self->EndConnection();
      return;
    }
    self->ping_unanswered_ = true;
    if (!self->close_sent_) {
      self->queue_.PushUnframed(kPing);
      self->Flush();
    }
    if (!self->ended_) self->ScheduleLiveness();
  });
}

void WebSocketSession::ReadNext() {
  if (ended_ || peer_closed_) return;
  // A peer that sends faster than it reads waits until its socket takes our answers again
  // (pongs and replies must not pile up without bound).
  if (queue_.writing()) {
    read_paused_ = true;
    return;
  }
  // Frames already read (sent along with the request) come first.
  if (!protocol_failed_ && !HandleFrames()) return;
  // A plain socket is waited on with no buffer (a TLS read needs its buffer at once).
  if (!stream_.is_tls()) reader_.ReleaseWhenEmpty();
  stream_.AsyncReadWhenReady([this] { return reader_.ReadBuffer(); },
                             [self = shared_from_this()](beast::error_code error, size_t bytes) {
                               self->OnRead(error, bytes);
                             });
}

void WebSocketSession::OnRead(beast::error_code error, size_t bytes) {
  // Errors end the session: the peer closed or reset the connection.
  if (error) {
    EndConnection();
    return;
  }
  heard_from_peer_ = true;
  ping_unanswered_ = false;
  // After a protocol error what the peer sends is read and dropped until it closes.
  if (!protocol_failed_) reader_.Commit(bytes);
  ReadNext();
}

bool WebSocketSession::HandleFrames() {
  for (;;) {
    if (ended_) return false;
    WsFrameReader::Item item = reader_.Next();
    switch (item.kind) {
      case WsFrameReader::Item::kNeedMore:
        return true;
      case WsFrameReader::Item::kMessage:
        HandleMessage(item.payload, item.text);
        break;
      case WsFrameReader::Item::kPing:
        if (!close_sent_) {
          queue_.PushUnframed(
              std::make_shared<const std::string>(WsControlFrame(WsOpcode::kPong, item.payload)));
          Flush();
        }
        break;
      case WsFrameReader::Item::kPong:
        break;
      case WsFrameReader::Item::kClose:
        peer_closed_ = true;
        OnPeerClose(item.code);
        return false;
      case WsFrameReader::Item::kError:
        // Nothing more can be parsed: the close goes out, then the rest the peer sends is
        // read and dropped until it closes (closing with unread bytes would reset the
        // connection and lose the close frame).
        protocol_failed_ = true;
        Close({item.code, std::string(item.reason)});
        if (!queue_.writing()) AfterWrites();
        return true;
    }
  }
}

void WebSocketSession::HandleMessage(std::string_view payload, bool text) {
  if (closing_ || close_sent_) return;
  if (text) {
    Close({1003, "text frames are not accepted; send binary ClientMessage frames"});
    return;
  }
  herald::v1::ClientMessage message;
  if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    Close({4400, "frame is not a ClientMessage"});
    return;
  }
  if (message.command_case() == herald::v1::ClientMessage::COMMAND_NOT_SET) {
    Close({4400, "ClientMessage has no command"});
    return;
  }
  HandleCommand(message);
}

void WebSocketSession::OnPeerClose(uint16_t code) {
  if (!close_sent_) {
    // The peer ends the connection: what was pending for it is dropped, and its close is
    // answered with the same code.
    queue_.DropPending();
    close_sent_ = true;
    expiry_timer_.cancel();
    queue_.PushUnframed(std::make_shared<const std::string>(WsCloseFrame(code, {})));
    close_deadline_.expires_after(kCloseDeadline);
    close_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
      if (!error) self->EndConnection();
    });
  }
  Flush();
  if (!queue_.writing()) AfterWrites();
}

void WebSocketSession::HandleCommand(const herald::v1::ClientMessage& message) {
  if (!command_limiter_.Allow()) {
    // A burst past the rate gets replies saying so; a client that keeps going after a full
    // second's worth of refusals is flooding and is closed.
    if (++refused_in_a_row_ > std::max<size_t>(1, context_.config.ws_command_rate)) {
      Close(kDisconnectRateLimited);
      return;
    }
    SendError(message.id(), absl::ResourceExhaustedError("rate limited: too many commands"));
    return;
  }
  refused_in_a_row_ = 0;
  switch (message.command_case()) {
    case herald::v1::ClientMessage::kSubscribe:
      Subscribe(message.id(), message.subscribe());
      break;
    case herald::v1::ClientMessage::kUnsubscribe:
      Unsubscribe(message.id(), message.unsubscribe());
      break;
    case herald::v1::ClientMessage::kPublish:
      Publish(message.id(), message.publish());
      break;
    case herald::v1::ClientMessage::kRefresh:
      Refresh(message.id(), message.refresh());
      break;
    case herald::v1::ClientMessage::kPing: {
      herald::v1::Reply reply;
      reply.set_id(message.id());
      reply.mutable_pong();
      SendReply(std::move(reply));
      break;
    }
    case herald::v1::ClientMessage::COMMAND_NOT_SET:
      break;
  }
}

void WebSocketSession::Subscribe(uint32_t id, const herald::v1::SubscribeCommand& command) {
  if (absl::Status status = ValidateTopic(command.topic()); !status.ok()) {
    SendError(id, status);
    return;
  }
  if (!grant_.MaySubscribe(command.topic())) {
    SendError(id, absl::PermissionDeniedError("this token may not subscribe to " +
                                              command.topic()));
    return;
  }
  Shard& shard = context_.hub.shard(shard_);
  if (shard.IsSubscribed(command.topic(), this)) {
    SendError(id, absl::AlreadyExistsError("already subscribed to " + command.topic()));
    return;
  }
  if (shard.TopicCount(this) >= context_.config.max_topics_per_connection) {
    SendError(id, absl::ResourceExhaustedError(absl::StrCat(
                      "a connection may hold ", context_.config.max_topics_per_connection,
                      " subscriptions")));
    return;
  }
  TopicRequest request{command.topic(), std::nullopt};
  if (command.recover()) request.since = TopicPosition{command.epoch(), command.offset()};
  context_.hub.Subscribe(
      shard_, this, {std::move(request)},
      [self = shared_from_this(),
       id](std::vector<absl::StatusOr<herald::v1::SubscribeResult>> results) {
        if (!results[0].ok()) {
          self->SendError(id, results[0].status());
          return;
        }
        herald::v1::Reply reply;
        reply.set_id(id);
        *reply.mutable_subscribed() = *std::move(results[0]);
        self->SendReply(std::move(reply));
      });
}

void WebSocketSession::Unsubscribe(uint32_t id, const herald::v1::UnsubscribeCommand& command) {
  if (absl::Status status = ValidateTopic(command.topic()); !status.ok()) {
    SendError(id, status);
    return;
  }
  context_.hub.Unsubscribe(shard_, command.topic(), this);
  herald::v1::Reply reply;
  reply.set_id(id);
  reply.mutable_unsubscribed()->set_topic(command.topic());
  SendReply(std::move(reply));
}

void WebSocketSession::Publish(uint32_t id, const herald::v1::PublishRequest& request) {
  if (absl::Status status = ValidatePublishRequest(request, context_.config.max_message_bytes);
      !status.ok()) {
    SendError(id, status);
    return;
  }
  absl::Status allowed =
      grant_.MayPublish(request.topic())
          ? context_.publish_admission.Allow(grant_)
          : absl::PermissionDeniedError("this token may not publish to " + request.topic());
  if (!allowed.ok()) {
    SendError(id, allowed);
    return;
  }
  context_.engine.Publish(
      request, [self = shared_from_this(), id, topic = request.topic(),
                request_id = request.request_id()](absl::StatusOr<TopicPosition> position) mutable {
        // The session moves to its loop: its last reference must not drop on an engine thread.
        auto executor = self->stream_.get_executor();
        boost::asio::post(executor, [self = std::move(self), id, topic, request_id,
                                     position = std::move(position)] {
          if (!position.ok()) {
            self->SendError(id, position.status());
            return;
          }
          herald::v1::Reply reply;
          reply.set_id(id);
          herald::v1::PublishResponse* published = reply.mutable_published();
          published->set_request_id(request_id);
          published->set_topic(topic);
          published->set_offset(position->offset);
          published->set_epoch(position->epoch);
          self->SendReply(std::move(reply));
        });
      });
}

void WebSocketSession::Refresh(uint32_t id, const herald::v1::RefreshCommand& command) {
  absl::StatusOr<Grant> grant = context_.authenticator.Authenticate(command.token());
  if (!grant.ok()) {
    SendError(id, grant.status());
    return;
  }
  if (grant->subject != grant_.subject || grant->publisher_key != grant_.publisher_key ||
      (grant_.subject.empty() && !grant_.open)) {
    SendError(id, absl::PermissionDeniedError(
                      "a refresh needs a token for the same sub as the connection's"));
    return;
  }
  for (const std::string& topic : context_.hub.shard(shard_).Topics(this)) {
    if (!grant->MaySubscribe(topic)) {
      SendError(id, absl::PermissionDeniedError("the new token may not subscribe to " + topic));
      return;
    }
  }
  grant_ = *std::move(grant);
  ScheduleExpiry();
  herald::v1::Reply reply;
  reply.set_id(id);
  reply.mutable_refreshed()->set_expires_unix_ms(
      grant_.expires == absl::InfiniteFuture() ? 0 : absl::ToUnixMillis(grant_.expires));
  SendReply(std::move(reply));
}

void WebSocketSession::ScheduleExpiry() {
  if (grant_.expires == absl::InfiniteFuture()) {
    expiry_timer_.cancel();
    return;
  }
  expiry_timer_.expires_after(NextExpiryCheck(grant_.expires));
  expiry_timer_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (error || self->closing_) return;
    if (self->grant_.Expired(absl::Now())) {
      self->Close(kDisconnectTokenExpired);
    } else {
      self->ScheduleExpiry();
    }
  });
}

void WebSocketSession::SendError(uint32_t id, const absl::Status& status) {
  herald::v1::Reply reply;
  reply.set_id(id);
  *reply.mutable_error() = ErrorProto(status);
  SendReply(std::move(reply));
}

void WebSocketSession::SendReply(herald::v1::Reply reply) {
  herald::v1::ServerMessage message;
  *message.add_replies() = std::move(reply);
  Send(message);
}

void WebSocketSession::Send(const herald::v1::ServerMessage& message) {
  if (closing_ || close_sent_) return;
  auto bytes = std::make_shared<std::string>(message.SerializeAsString());
  if (!RoomForLive(queue_, stream_, bytes->size(), context_.hub.shard(shard_)) ||
      !queue_.Push(std::move(bytes))) {
    Close(kDisconnectSlowConsumer);
    return;
  }
  Flush();
}

void WebSocketSession::Enqueue(const std::shared_ptr<const EncodedEvent>& event,
                               Delivery delivery) {
  if (closing_ || close_sent_ || ended_) return;
  std::shared_ptr<const std::string> bytes = SharedBytes(
      event, event->ws_frame(delivery.new_epoch ? EpochField::kIncluded : EpochField::kLeftOut));
  bool queued =
      delivery.replayed
          ? queue_.PushReplayed(std::move(bytes))
          : RoomForLive(queue_, stream_, bytes->size(), context_.hub.shard(shard_)) &&
                queue_.Push(std::move(bytes));
  if (!queued) {
    Close(kDisconnectSlowConsumer);
    return;
  }
  context_.metrics.EventsDelivered(shard_, TransportKind::kWebSocket);
}

void WebSocketSession::Flush() {
  if (ended_ || queue_.writing() || !queue_.has_pending()) return;
  switch (WriteQueue(shared_from_this(), stream_, queue_)) {
    case WriteProgress::kDone:
      AfterWrites();
      break;
    case WriteProgress::kWaiting:
      break;
    case WriteProgress::kFailed:
      EndConnection();
      break;
  }
}

void WebSocketSession::OnWrite(beast::error_code error) {
  if (error) {
    EndConnection();
    return;
  }
  if (queue_.has_pending()) {
    Flush();
  } else {
    AfterWrites();
  }
  if (read_paused_ && !queue_.writing()) {
    read_paused_ = false;
    ReadNext();
  }
}

void WebSocketSession::Close(const Disconnect& disconnect) {
  if (closing_ || close_sent_ || ended_) return;
  closing_ = disconnect;
  expiry_timer_.cancel();
  context_.metrics.ServerDisconnect(disconnect.code);
  // A slow consumer's backlog is dropped; otherwise what was queued still goes out first.
  if (disconnect.code == kDisconnectSlowConsumer.code) queue_.DropPending();
  herald::v1::ServerMessage message;
  message.mutable_disconnect()->set_code(disconnect.code);
  message.mutable_disconnect()->set_reason(disconnect.reason);
  queue_.PushLastWords(std::make_shared<std::string>(message.SerializeAsString()));
  queue_.PushUnframed(
      std::make_shared<const std::string>(WsCloseFrame(disconnect.code, disconnect.reason)));
  close_sent_ = true;
  // The peer has this long to read what is left and answer the close.
  close_deadline_.expires_after(kCloseDeadline);
  close_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (!error) self->EndConnection();
  });
  Flush();
}

void WebSocketSession::AfterWrites() {
  if (!close_sent_ || queue_.has_pending()) return;
  if (peer_closed_) {
    // The close handshake is over: the server closes the TCP connection first, as RFC 6455
    // asks.
    EndConnection();
    return;
  }
  // Our close left: no more bytes follow. The peer answers with its close, then the connection
  // ends (or at the close deadline). A TLS stream stays open for the peer's close to arrive.
  if (stream_.is_tls()) return;
  beast::error_code ignored;
  stream_.tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
}

void WebSocketSession::EndConnection() {
  if (ended_) return;
  ended_ = true;
  close_deadline_.cancel();
  expiry_timer_.cancel();
  liveness_timer_.cancel();
  beast::error_code ignored;
  stream_.tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.tcp().socket().close(ignored);
}

}  // namespace herald
