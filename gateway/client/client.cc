// A transport-neutral client.
#include "client/client.h"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "codec/encoded_event.h"
#include "codec/error_proto.h"
#include "topic/topic.h"
#include "log.h"
#include "loop_check.h"
#include "random_id.h"

namespace herald {

Client::Client(ClientContext& context, size_t shard, boost::asio::io_context& loop, Grant grant,
               Transport& transport)
    : context_(context),
      transport_(&transport),
      shard_(shard),
      kind_(transport.kind()),
      tracks_positions_(transport.names_positions()),
      loop_(loop),
      id_(RandomId(8)),
      connected_at_(absl::Now()),
      remote_address_(transport.RemoteAddress()),
      grant_(std::move(grant)),
      credential_(grant_.CredentialKey()),
      command_limiter_(context.config.ws_command_rate,
                       std::max(1.0, 2 * context.config.ws_command_rate)) {
  context_.metrics.ConnectionOpened(kind_);
  context_.registry.Add(shard_, this);
}

Client::~Client() {
  context_.registry.Remove(shard_, this);  // When End did not run.
  context_.metrics.ConnectionClosed(kind_, close_code_);
}

void Client::Connect(std::vector<TopicRequest> topics) {
  HERALD_ASSERT_ON_LOOP(loop_);
  ScheduleExpiry();
  for (const TopicRequest& request : topics) AddTopic(request.topic, TopicPosition{});
  context_.hub.Subscribe(
      shard_, this, topics,
      [self = shared_from_this(), topics](std::vector<absl::StatusOr<SubscribedTopic>> results) {
        self->OnConnected(std::move(results), topics);
      });
}

void Client::OnConnected(std::vector<absl::StatusOr<SubscribedTopic>> results,
                         const std::vector<TopicRequest>& requests) {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (!live()) return;
  connected_ = true;
  herald::v1::Connected connected;
  connected.set_client_id(id_);
  connected.set_node(context_.config.node);
  std::optional<absl::Status> refused;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      if (!refused) refused = results[i].status();
      continue;
    }
    const SubscribedTopic& result = *results[i];
    if (requests[i].since) context_.metrics.Recovery(kind_, result.recovered);
    // Replayed events continue from the client's position; otherwise it starts from now.
    size_t index = TopicIndex(result.topic);
    if (index < positions_.size()) {
      positions_[index] = result.recovered ? *requests[i].since : result.position;
    }
    *connected.add_subscriptions() = SubscribeResultProto(result);
  }
  if (!transport_->QueueConnected(connected)) {
    Disconnect(kDisconnectSlowConsumer);
    return;
  }
  transport_->Flush();
  LogConnection("connect");
  if (refused) {
    Disconnect(DisconnectFor(*refused));
  } else if (context_.draining.load()) {
    // A drain that began meanwhile may have closed the shard's clients before this one
    // attached.
    Disconnect(kDisconnectShutdown);
  } else if (context_.authenticator.Revoked(grant_)) {
    // Likewise a reload that revoked its key between the authentication and now.
    Disconnect(kDisconnectCredentialRevoked);
  } else {
    // The connection stands: the topics' other subscribers hear of it.
    for (const absl::StatusOr<SubscribedTopic>& result : results) Joined(result->topic);
  }
}

void Client::HandleCommand(const herald::v1::ClientMessage& message) {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (!live()) return;
  if (!command_limiter_.Allow()) {
    // A burst past the rate gets replies saying so; a client that keeps going after a full
    // second's worth of refusals is flooding and is closed.
    if (++refused_in_a_row_ > std::max<size_t>(1, context_.config.ws_command_rate)) {
      Disconnect(kDisconnectRateLimited);
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
      UnsubscribeCommand(message.id(), message.unsubscribe());
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
      SendReply(reply);
      break;
    }
    case herald::v1::ClientMessage::COMMAND_NOT_SET:
      Disconnect({4400, "ClientMessage has no command"});
      break;
  }
}

void Client::Subscribe(uint32_t id, const herald::v1::SubscribeCommand& command) {
  const std::string& topic = command.topic();
  if (absl::Status status = ValidateTopic(topic); !status.ok()) {
    SendError(id, status);
    return;
  }
  if (!grant_.MaySubscribe(topic)) {
    SendError(id, absl::PermissionDeniedError("this token may not subscribe to " + topic));
    return;
  }
  bool pending = std::any_of(pending_subscribes_.begin(), pending_subscribes_.end(),
                             [&](const PendingSubscribe& p) { return p.topic == topic; });
  if (pending || TopicIndex(topic) < topics_.size()) {
    SendError(id, absl::AlreadyExistsError("already subscribed to " + topic));
    return;
  }
  if (topics_.size() + pending_subscribes_.size() >=
      context_.config.max_topics_per_connection) {
    SendError(id, absl::ResourceExhaustedError(
                      absl::StrCat("a connection may hold ",
                                   context_.config.max_topics_per_connection, " subscriptions")));
    return;
  }
  uint64_t serial = next_serial_++;
  pending_subscribes_.push_back({topic, id, serial, command.recover()});
  TopicRequest request{topic, std::nullopt};
  if (command.recover()) request.since = TopicPosition{command.epoch(), command.offset()};
  context_.hub.Subscribe(
      shard_, this, {std::move(request)},
      [self = shared_from_this(), serial](std::vector<absl::StatusOr<SubscribedTopic>> results) {
        self->OnSubscribed(serial, std::move(results[0]));
      });
}

void Client::OnSubscribed(uint64_t serial, absl::StatusOr<SubscribedTopic> result) {
  HERALD_ASSERT_ON_LOOP(loop_);
  auto pending = std::find_if(pending_subscribes_.begin(), pending_subscribes_.end(),
                              [&](const PendingSubscribe& p) { return p.serial == serial; });
  // Unsubscribed meanwhile: that command answered this one already.
  if (pending == pending_subscribes_.end()) return;
  uint32_t id = pending->command_id;
  bool recovering = pending->recovering;
  pending_subscribes_.erase(pending);
  if (!result.ok()) {
    SendError(id, result.status());
    return;
  }
  if (recovering) context_.metrics.Recovery(kind_, result->recovered);
  AddTopic(result->topic, result->position);
  if (live()) Joined(result->topic);
  herald::v1::Reply reply;
  reply.set_id(id);
  *reply.mutable_subscribed() = SubscribeResultProto(*result);
  SendReply(reply);
}

void Client::UnsubscribeCommand(uint32_t id, const herald::v1::UnsubscribeCommand& command) {
  if (absl::Status status = ValidateTopic(command.topic()); !status.ok()) {
    SendError(id, status);
    return;
  }
  LeaveTopic(command.topic());
  herald::v1::Reply reply;
  reply.set_id(id);
  reply.mutable_unsubscribed()->set_topic(command.topic());
  SendReply(reply);
}

bool Client::LeaveTopic(absl::string_view topic) {
  // A subscribe still in progress is answered first, so each command gets its one reply in
  // order and no `subscribed` follows.
  auto pending = std::find_if(pending_subscribes_.begin(), pending_subscribes_.end(),
                              [&](const PendingSubscribe& p) { return p.topic == topic; });
  if (pending != pending_subscribes_.end()) {
    uint32_t subscribe_id = pending->command_id;
    pending_subscribes_.erase(pending);
    SendError(subscribe_id, absl::CancelledError(absl::StrCat(
                                "unsubscribed from ", topic, " before the subscribe completed")));
    context_.hub.Unsubscribe(shard_, topic, this);
    return true;
  }
  size_t index = TopicIndex(topic);
  if (index == topics_.size()) return false;
  std::string left = std::move(topics_[index]);
  topics_.erase(topics_.begin() + index);
  if (tracks_positions_) positions_.erase(positions_.begin() + index);
  context_.registry.Unfollow(shard_, left, this);
  context_.hub.Unsubscribe(shard_, left, this);
  Left(left);
  return true;
}

bool Client::Unsubscribe(absl::string_view topic) {
  HERALD_ASSERT_ON_LOOP(loop_);
  // Before `connected` the connect-time topics are still being subscribed: the answer would
  // list a topic already taken off.
  if (!live() || !connected_) return false;
  std::string removed(topic);
  if (!LeaveTopic(removed)) return false;
  if (!transport_->QueueUnsubscribed(removed)) {
    Disconnect(kDisconnectSlowConsumer);
    return true;
  }
  transport_->Flush();
  return true;
}

void Client::Publish(uint32_t id, const herald::v1::PublishRequest& request) {
  context_.publish.Publish(request, grant_, PublishWay::kWebSocket,
                           [self = shared_from_this(), id](PublishOutcome outcome) mutable {
    // The client moves to its loop: its last reference must not drop on an engine thread.
    boost::asio::io_context& loop = self->loop_;
    boost::asio::post(loop, [self = std::move(self), id, outcome = std::move(outcome)] {
      herald::v1::Reply reply;
      reply.set_id(id);
      if (outcome.position.ok()) {
        *reply.mutable_published() = PublishAnswer(outcome);
      } else {
        *reply.mutable_error() = ErrorProto(outcome.position.status());
      }
      self->SendReply(reply);
    });
  });
}

void Client::Refresh(uint32_t id, const herald::v1::RefreshCommand& command) {
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
  for (const std::string& topic : topics_) {
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
  SendReply(reply);
}

void Client::ScheduleExpiry() {
  if (grant_.expires == absl::InfiniteFuture()) {
    CancelExpiry();
    return;
  }
  // Made for grants that expire only: a client that never expires holds no timer.
  if (!expiry_timer_) expiry_timer_ = std::make_unique<boost::asio::steady_timer>(loop_);
  expiry_timer_->expires_after(NextExpiryCheck(grant_.expires));
  expiry_timer_->async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (error || !self->live()) return;
    if (self->grant_.Expired(absl::Now())) {
      self->Disconnect(kDisconnectTokenExpired);
    } else {
      self->ScheduleExpiry();
    }
  });
}

void Client::CancelExpiry() {
  if (expiry_timer_) expiry_timer_->cancel();
}

void Client::Disconnect(const herald::Disconnect& disconnect) {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (!live()) return;
  disconnected_ = true;
  CancelExpiry();
  // Counted only when the peer is told (not for a connection that had ended meanwhile, whose
  // own close is what its disconnect line says).
  if (transport_->Close(disconnect)) {
    context_.metrics.ServerDisconnect(disconnect.code);
    if (close_code_ == 0) {
      close_code_ = disconnect.code;
      close_reason_ = disconnect.reason;
    }
  }
}

void Client::CutOff(const herald::Disconnect& disconnect) {
  HERALD_ASSERT_ON_LOOP(loop_);
  context_.metrics.ServerDisconnect(disconnect.code);
  if (close_code_ == 0) {
    close_code_ = disconnect.code;
    close_reason_ = disconnect.reason;
  }
}

void Client::ClosedByPeer(uint16_t code) {
  if (close_code_ == 0) {
    close_code_ = code == 0 ? 1005 : code;  // 1005: a close frame without a code.
    close_reason_ = "closed by the client";
  }
}

void Client::LogConnection(std::string_view what) {
  if (what == "connect") logged_connect_ = true;
  std::string topics = absl::StrJoin(topics_, ",");
  if (what == "connect") {
    Log(LogLevel::kInfo, what,
        {{"transport", TransportName(kind_)}, {"client_id", id_}, {"address", remote_address_},
         {"user", grant_.subject}, {"topics", topics}});
    return;
  }
  Log(LogLevel::kInfo, what,
      {{"transport", TransportName(kind_)}, {"client_id", id_}, {"address", remote_address_},
       {"user", grant_.subject}, {"topics", topics}, {"code", int64_t{close_code_}},
       {"reason", close_code_ == 0 ? std::string_view("the client went away") : close_reason_},
       {"duration_ms", absl::ToInt64Milliseconds(absl::Now() - connected_at_)},
       {"events", static_cast<int64_t>(events_delivered_)},
       {"bytes", static_cast<int64_t>(transport_->SentBytes())}});
}

void Client::End() {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (transport_ == nullptr) return;
  if (logged_connect_) LogConnection("disconnect");
  transport_ = nullptr;
  CancelExpiry();
  pending_subscribes_.clear();
  context_.hub.Detach(shard_, this);
  context_.registry.Remove(shard_, this);
  for (const std::string& topic : announced_) {
    context_.join_leave.Left(topic, id_, grant_.subject);
  }
  announced_.clear();
}

void Client::Joined(const std::string& topic) {
  if (std::find(announced_.begin(), announced_.end(), topic) != announced_.end()) return;
  if (!context_.join_leave.Announces(topic)) return;
  // A join the cap dropped is followed by no leave either.
  if (context_.join_leave.Joined(topic, id_, grant_.subject)) announced_.push_back(topic);
}

void Client::Left(absl::string_view topic) {
  auto it = std::find(announced_.begin(), announced_.end(), topic);
  if (it == announced_.end()) return;
  context_.join_leave.Left(*it, id_, grant_.subject);
  announced_.erase(it);
}

void Client::Enqueue(const std::shared_ptr<const EncodedEvent>& event, Delivery delivery) {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (!live()) return;
  if (tracks_positions_ && event->offset() != 0) {
    size_t index = TopicIndex(event->topic());
    if (index < positions_.size()) {
      // In place: no allocation per delivery.
      TopicPosition& position = positions_[index];
      if (position.epoch != event->epoch()) position.epoch = event->epoch();
      position.offset = event->offset();
    }
  }
  switch (transport_->QueueEvent(event, delivery)) {
    case Transport::Queued::kYes:
      context_.metrics.EventsDelivered(shard_, kind_);
      ++events_delivered_;
      break;
    case Transport::Queued::kDropped:
      break;
    case Transport::Queued::kNoRoom:
      Disconnect(kDisconnectSlowConsumer);
      break;
  }
}

size_t Client::ReplayCost(const EncodedEvent& event) const {
  return transport_ == nullptr ? 0 : transport_->ReplayCost(event);
}

size_t Client::ReplayRoom() const { return transport_ == nullptr ? 0 : transport_->ReplayRoom(); }

void Client::Flush() {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (transport_ != nullptr) transport_->Flush();
}

void Client::AddTopic(const std::string& topic, const TopicPosition& position) {
  if (TopicIndex(topic) < topics_.size()) return;
  topics_.push_back(topic);
  if (tracks_positions_) positions_.push_back(position);
  context_.registry.Follow(shard_, topic, this);
}

size_t Client::TopicIndex(absl::string_view topic) const {
  return std::find(topics_.begin(), topics_.end(), topic) - topics_.begin();
}

void Client::SendReply(const herald::v1::Reply& reply) {
  if (!live()) return;
  if (!transport_->QueueReply(reply)) {
    Disconnect(kDisconnectSlowConsumer);
    return;
  }
  transport_->Flush();
}

void Client::SendError(uint32_t id, const absl::Status& status) {
  herald::v1::Reply reply;
  reply.set_id(id);
  *reply.mutable_error() = ErrorProto(status);
  SendReply(reply);
}

const char* TransportName(TransportKind kind) {
  switch (kind) {
    case TransportKind::kWebSocket:
      return "websocket";
    case TransportKind::kSse:
      return "sse";
    case TransportKind::kGrpc:
      return "grpc";
  }
  return "";
}

herald::Disconnect DisconnectFor(const absl::Status& status) {
  uint16_t code = 4400;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      code = kDisconnectTryAgainLater.code;
      break;
    case absl::StatusCode::kResourceExhausted:
      code = 4429;
      break;
    case absl::StatusCode::kPermissionDenied:
      code = 4403;
      break;
    case absl::StatusCode::kUnauthenticated:
      code = 4401;
      break;
    default:
      break;
  }
  return {code, std::string(status.message()), status.code()};
}

herald::v1::SubscribeResult SubscribeResultProto(const SubscribedTopic& topic) {
  herald::v1::SubscribeResult result;
  result.set_topic(topic.topic);
  result.set_epoch(topic.position.epoch);
  result.set_offset(topic.position.offset);
  result.set_recovered(topic.recovered);
  return result;
}

}  // namespace herald
