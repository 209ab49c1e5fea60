// WebSocket session.
#include "edge/websocket_session.h"

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
namespace websocket = beast::websocket;

namespace {

// How long a close may wait for a stuck write before the socket is dropped.
constexpr std::chrono::seconds kCloseDeadline{10};

std::chrono::steady_clock::duration ToChrono(absl::Duration duration) {
  return absl::ToChronoMilliseconds(duration);
}

}  // namespace

WebSocketSession::WebSocketSession(EdgeStream stream, EdgeContext& context, size_t shard)
    : ws_(std::move(stream)),
      context_(context),
      shard_(shard),
      client_id_(RandomId(8)),
      queue_(context.config.max_queue_bytes, context.config.max_replay_bytes),
      command_limiter_(context.config.ws_command_rate,
                       std::max(1.0, 2 * context.config.ws_command_rate)),
      expiry_timer_(ws_.get_executor()),
      close_deadline_(ws_.get_executor()) {}

WebSocketSession::~WebSocketSession() {
  if (!attached_) return;
  context_.hub.Detach(shard_, this);
  context_.metrics.ConnectionClosed(TransportKind::kWebSocket);
}

void WebSocketSession::Run(http::request<http::string_body> request,
                           std::vector<std::string> topics, Grant grant, ConnectionSlot slot) {
  const Config& config = context_.config;
  grant_ = std::move(grant);
  slot_ = std::move(slot);
  ws_.next_layer().tcp().expires_never();
  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = ToChrono(config.handshake_timeout);
  timeout.idle_timeout = ToChrono(config.ws_ping_interval * 2);
  timeout.keep_alive_pings = true;
  ws_.set_option(timeout);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(http::field::server, "herald"); }));
  ws_.read_message_max(config.max_message_bytes);
  ws_.binary(true);
  // A batch of events leaves as one frame in one write: by default Beast splits every message
  // into 4 KiB frames, one write each.
  ws_.auto_fragment(false);
  ws_.async_accept(request, [self = shared_from_this(), topics = std::move(topics)](
                                beast::error_code error) mutable {
    self->OnAccept(error, std::move(topics));
  });
}

void WebSocketSession::OnAccept(beast::error_code error, std::vector<std::string> topics) {
  if (error) return;
  attached_ = true;
  context_.metrics.ConnectionOpened(TransportKind::kWebSocket);
  ScheduleExpiry();
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

void WebSocketSession::ReadNext() {
  ws_.async_read(read_buffer_,
                 [self = shared_from_this()](beast::error_code error, size_t bytes) {
                   self->OnRead(error, bytes);
                 });
}

void WebSocketSession::OnRead(beast::error_code error, size_t bytes) {
  // Errors end the session: the peer closed, timed out, or broke the protocol (Beast has
  // already answered a frame over read_message_max with close 1009).
  if (error) {
    EndConnection();
    return;
  }
  if (closing_) return;
  if (!ws_.got_binary()) {
    Close({1003, "text frames are not accepted; send binary ClientMessage frames"});
    return;
  }
  herald::v1::ClientMessage message;
  bool parsed = message.ParseFromArray(read_buffer_.data().data(),
                                       static_cast<int>(read_buffer_.size()));
  read_buffer_.consume(read_buffer_.size());
  if (!parsed) {
    Close({4400, "frame is not a ClientMessage"});
    return;
  }
  if (message.command_case() == herald::v1::ClientMessage::COMMAND_NOT_SET) {
    Close({4400, "ClientMessage has no command"});
    return;
  }
  HandleCommand(message);
  ReadNext();
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
          ? context_.publish_rates.Allow(grant_)
          : absl::PermissionDeniedError("this token may not publish to " + request.topic());
  if (!allowed.ok()) {
    SendError(id, allowed);
    return;
  }
  context_.engine.Publish(
      request, [self = shared_from_this(), id, topic = request.topic(),
                request_id = request.request_id()](absl::StatusOr<TopicPosition> position) mutable {
        // The session moves to its loop: its last reference must not drop on an engine thread.
        auto executor = self->ws_.get_executor();
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
  if (closing_) return;
  auto bytes = std::make_shared<std::string>(message.SerializeAsString());
  if (!queue_.Push(std::move(bytes))) {
    Close(kDisconnectSlowConsumer);
    return;
  }
  Flush();
}

void WebSocketSession::Enqueue(const std::shared_ptr<const EncodedEvent>& event) {
  QueueEvent(event, /*replayed=*/false);
}

void WebSocketSession::EnqueueReplayed(const std::shared_ptr<const EncodedEvent>& event) {
  QueueEvent(event, /*replayed=*/true);
}

void WebSocketSession::QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                                  bool replayed) {
  if (closing_) return;
  std::shared_ptr<const std::string> bytes = SharedBytes(event, event->ws_frame());
  if (!(replayed ? queue_.PushReplayed(std::move(bytes)) : queue_.Push(std::move(bytes)))) {
    Close(kDisconnectSlowConsumer);
    return;
  }
  context_.metrics.EventsDelivered(shard_, TransportKind::kWebSocket);
}

void WebSocketSession::Flush() {
  if (queue_.writing() || !queue_.has_pending() || close_started_) return;
  ws_.async_write(queue_.StartWrite(),
                  [self = shared_from_this()](beast::error_code error, size_t bytes) {
                    self->OnWrite(error, bytes);
                  });
}

void WebSocketSession::OnWrite(beast::error_code error, size_t bytes) {
  queue_.CompleteWrite();
  if (error) {
    EndConnection();
    return;
  }
  if (queue_.has_pending()) {
    Flush();
  } else if (closing_) {
    StartClose();
  }
}

void WebSocketSession::Close(const Disconnect& disconnect) {
  if (closing_) return;
  closing_ = disconnect;
  expiry_timer_.cancel();
  context_.metrics.ServerDisconnect(disconnect.code);
  // A slow consumer's backlog is dropped; otherwise what was queued still goes out first.
  if (disconnect.code == kDisconnectSlowConsumer.code) queue_.DropPending();
  herald::v1::ServerMessage message;
  message.mutable_disconnect()->set_code(disconnect.code);
  message.mutable_disconnect()->set_reason(disconnect.reason);
  queue_.PushLastWords(std::make_shared<std::string>(message.SerializeAsString()));
  close_deadline_.expires_after(kCloseDeadline);
  close_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (!error) self->ws_.next_layer().tcp().close();
  });
  Flush();
}

void WebSocketSession::StartClose() {
  if (close_started_) return;
  close_started_ = true;
  websocket::close_reason reason(static_cast<websocket::close_code>(closing_->code),
                                 closing_->reason.substr(0, 120));
  ws_.async_close(reason, [self = shared_from_this()](beast::error_code error) {
    self->OnClose(error);
  });
}

void WebSocketSession::OnClose(beast::error_code error) { close_deadline_.cancel(); }

void WebSocketSession::EndConnection() {
  // The connection is gone: nothing is left to wait for, so the session can end now instead of
  // at the close deadline.
  close_deadline_.cancel();
  expiry_timer_.cancel();
  if (closing_ && !close_started_) {
    beast::error_code ignored;
    ws_.next_layer().tcp().socket().close(ignored);
  }
}

}  // namespace herald
