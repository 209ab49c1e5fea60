// Subscriber service: each call is a transport attached to one shard of the hub.
#include "grpc/subscriber_service.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "codec/encoded_event.h"
#include "edge/outgoing_queue.h"
#include "edge/queue_writer.h"
#include "grpc/call_auth.h"
#include "topic/topic.h"
#include "loop_check.h"

namespace herald {
namespace {

// The initial metadata that tells a Subscribe call where each topic continues from and whether
// what it missed was replayed: a serialized herald.v1.Connected, as a WebSocket client gets it.
constexpr char kConnectedMetadata[] = "herald-connected-bin";

// How long a message may wait for gRPC (its flow control: the consumer's window is full) before
// the consumer counts as not reading: past its queue limit it is then a slow consumer.
constexpr auto kStalledWrite = std::chrono::milliseconds(250);

// A slice of `bytes`, which `owner` holds: it refers to them (and keeps them alive) instead of
// copying them; gRPC may hold it after the write completes.
template <typename Owner>
grpc::Slice SharedSlice(std::shared_ptr<const Owner> owner, absl::string_view bytes) {
  auto* held = new std::shared_ptr<const Owner>(std::move(owner));
  return grpc::Slice(
      const_cast<char*>(bytes.data()), bytes.size(),
      [](void* held) { delete static_cast<std::shared_ptr<const Owner>*>(held); }, held);
}

// A queued message as gRPC takes it, its bytes shared.
grpc::ByteBuffer SharedMessage(const std::vector<OutgoingQueue::Piece>& pieces) {
  std::vector<grpc::Slice> slices;
  slices.reserve(pieces.size());
  for (const OutgoingQueue::Piece& piece : pieces) {
    std::string_view bytes = piece.view();
    slices.push_back(SharedSlice(piece.bytes, absl::string_view(bytes.data(), bytes.size())));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// Parses a raw method's request.
template <typename Message>
bool ParseRequest(const grpc::ByteBuffer& bytes, Message& message) {
  grpc::ByteBuffer copy(bytes);
  return grpc::SerializationTraits<Message>::Deserialize(&copy, &message).ok();
}

// A HistoryResponse as bytes: its position fields, then each event as the bytes it is kept in
// (shared, not copied), within the answer's size limit.
grpc::ByteBuffer HistoryAnswer(const std::string& topic, const TopicHistory& history) {
  herald::v1::HistoryResponse position;
  position.set_topic(topic);
  position.set_epoch(history.position.epoch);
  position.set_offset(history.position.offset);
  // Owned bytes (the position, each event's head and epoch) gather in `glue` between the slices
  // of event bytes.
  std::vector<grpc::Slice> slices;
  std::string glue = position.SerializeAsString();
  constexpr int kEventsField = herald::v1::HistoryResponse::kEventsFieldNumber;
  for (size_t i = FirstOfLatestWithin(history.events, kMaxHistoryAnswerBytes, GrpcAnswerBytes);
       i < history.events.size(); ++i) {
    const std::shared_ptr<const EncodedEvent>& event = history.events[i];
    glue += EmbeddedEventHead(*event, kEventsField);
    slices.emplace_back(glue);
    slices.push_back(SharedSlice(event, event->event_bytes()));
    glue = event->epoch_field();
  }
  if (!glue.empty()) slices.emplace_back(glue);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// The gRPC status a Subscribe call ends with when its client is disconnected.
grpc::Status StatusFor(const Disconnect& disconnect) {
  if (disconnect.status) {
    return grpc::Status(static_cast<grpc::StatusCode>(*disconnect.status), disconnect.reason);
  }
  grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE;  // 1001, 1012, 1013: try again.
  std::string message = disconnect.reason;
  if (disconnect.code == kDisconnectTokenExpired.code) {
    code = grpc::StatusCode::UNAUTHENTICATED;
  } else if (disconnect.code == kDisconnectSlowConsumer.code) {
    code = grpc::StatusCode::RESOURCE_EXHAUSTED;
    message = "slow consumer: the outgoing queue is full";
  } else if (disconnect.code == kDisconnectRateLimited.code) {
    code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  } else if (disconnect.code == 4403) {
    code = grpc::StatusCode::PERMISSION_DENIED;
  } else if (disconnect.code == kDisconnectBadRequest.code) {
    code = grpc::StatusCode::INVALID_ARGUMENT;
  } else if (disconnect.code == kDisconnectShutdown.code) {
    message = "the gateway is shutting down";
  }
  return grpc::Status(code, message);
}

// The gRPC transport: streams the events its client is given. The client calls the Transport
// methods on its loop; gRPC calls the reactor methods on its own threads; the mutex orders the
// two. Lifetime: the reactor scheme (one write in flight, Finish always, deleted once done):
// OnDone posts to the loop, where the client is ended before the reactor is deleted, so the
// client never reaches a deleted transport.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public Transport {
 public:
  // `loop` runs shard `shard`; the client is created there with `grant` and connected to
  // `topics`.
  SubscribeReactor(grpc::CallbackServerContext& call, ClientContext& context, size_t shard,
                   boost::asio::io_context& loop, std::vector<TopicRequest> topics, Grant grant,
                   ConnectionSlot slot, std::string peer)
      : call_(call),
        loop_(loop),
        peer_(std::move(peer)),
        slot_(std::move(slot)),
        queue_(context.config.max_queue_bytes, context.config.max_replay_bytes, {},
               &context.hub.load(shard), TransportKind::kGrpc) {
    boost::asio::post(loop_, [this, &context, shard, topics = std::move(topics),
                              grant = std::move(grant)]() mutable {
      client_ = std::make_shared<Client>(context, shard, loop_, std::move(grant), *this);
      client_->Connect(std::move(topics));
    });
  }

  // Transport:
  TransportKind kind() const override { return TransportKind::kGrpc; }

  // Every event goes out whole, epoch included: a Subscribe call has no subscribe answer to
  // tell its epoch. The same overload policy as WebSocket and SSE (RoomForLive), with gRPC's
  // own sign of a consumer that does not read: a message waiting on its flow control.
  Queued QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                    Subscriber::Delivery delivery) override {
    HERALD_ASSERT_ON_LOOP(loop_);
    absl::MutexLock lock(&mutex_);
    if (finishing_) return Queued::kDropped;
    std::string epoch = event->epoch_field();
    absl::string_view bytes = event->event_bytes();
    auto consumer_reads = [&queue = queue_] {
      return !queue.writing() ||
             std::chrono::steady_clock::now() - queue.write_started() < kStalledWrite;
    };
    if (!delivery.replayed && !RoomForLive(queue_, bytes.size() + epoch.size(), consumer_reads)) {
      return Queued::kNoRoom;
    }
    bool queued = queue_.PushMessage(SharedBytes(event, event->ws_frame()),
                                     std::string_view(bytes.data(), bytes.size()), epoch,
                                     delivery.replayed);
    if (!queued) return Queued::kNoRoom;
    if (!delivery.replayed) queue_.SampleDeliveryLag(event->time_unix_ms());
    return Queued::kYes;
  }

  size_t ReplayCost(const EncodedEvent& event) const override {
    return event.event_bytes().size() + event.epoch_field().size();
  }

  size_t ReplayRoom() const override {
    absl::MutexLock lock(&mutex_);
    return queue_.replay_room();
  }

  uint64_t SentBytes() const override {
    absl::MutexLock lock(&mutex_);
    return queue_.sent_bytes();
  }

  // Initial metadata tells the consumer it is live: what it missed (when history held it) is
  // queued next, and every later event follows. It carries `connected` (each topic's position,
  // and whether its `since` was recovered). Sent from a task of its own: a call the client
  // closes right after (a refused topic, a drain) finishes without it, as a refusal should.
  // (The deletion OnDone causes is posted after the client ended, so after this task.)
  bool QueueConnected(const herald::v1::Connected& connected) override {
    HERALD_ASSERT_ON_LOOP(loop_);
    {
      // Added before any write can start: the first write sends the metadata too.
      absl::MutexLock lock(&mutex_);
      if (finishing_ || wrote_) return true;
      call_.AddInitialMetadata(kConnectedMetadata, connected.SerializeAsString());
    }
    boost::asio::post(loop_, [this] {
      absl::MutexLock lock(&mutex_);
      // A write that started first carried the metadata already.
      if (!finishing_ && !wrote_) StartSendInitialMetadata();
    });
    return true;
  }

  // A Subscribe call takes no commands: never called.
  bool QueueReply(const herald::v1::Reply&) override { return true; }
  // A Subscribe stream has no message for it: the topic's events stop.
  bool QueueUnsubscribed(const std::string&) override { return true; }
  std::string RemoteAddress() override { return peer_; }

  void Flush() override {
    HERALD_ASSERT_ON_LOOP(loop_);
    absl::MutexLock lock(&mutex_);
    WriteNextLocked();
  }

  bool Close(const Disconnect& disconnect) override {
    HERALD_ASSERT_ON_LOOP(loop_);
    absl::MutexLock lock(&mutex_);
    if (finishing_) return false;
    if (disconnect.code == kDisconnectSlowConsumer.code) queue_.DropPending();
    FinishLocked(StatusFor(disconnect));
    return true;
  }

  // grpc::ServerWriteReactor:
  void OnSendInitialMetadataDone(bool ok) override {}

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mutex_);
    // A failed write times nothing: what it carried never arrived.
    if (!ok) queue_.DropPending();
    queue_.CompleteWrite(queue_.write_bytes());
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mutex_);
    queue_.DropPending();
    FinishLocked(grpc::Status::CANCELLED);
  }

  // Ends the client on its loop, then deletes the reactor in a task posted after that: a task
  // the client posted before it ended (QueueConnected's) still finds the reactor.
  void OnDone() override {
    boost::asio::post(loop_, [this] {
      if (client_) client_->End();
      boost::asio::post(loop_, [this] { delete this; });
    });
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (queue_.writing() || finished_) return;
    if (!queue_.has_pending()) {
      if (finishing_) {
        finished_ = true;
        Finish(final_status_);
      }
      return;
    }
    in_flight_ = SharedMessage(queue_.StartMessageWrite());
    wrote_ = true;
    StartWrite(&in_flight_);
  }

  // Finishes once the queue is written (at once when nothing is queued or in flight). The
  // first status stays; every call retries the finish, which a failed write may have held up.
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!finishing_) {
      finishing_ = true;
      final_status_ = std::move(status);
    }
    WriteNextLocked();
  }

  grpc::CallbackServerContext& call_;
  boost::asio::io_context& loop_;
  const std::string peer_;  // The caller's address (Transport::RemoteAddress).
  ConnectionSlot slot_;             // Its place under the connection caps.
  std::shared_ptr<Client> client_;  // Set and used on the loop only.
  mutable absl::Mutex mutex_;
  OutgoingQueue queue_ ABSL_GUARDED_BY(mutex_);
  // The message being written (its slices keep its bytes alive).
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mutex_);
  bool finishing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  bool wrote_ ABSL_GUARDED_BY(mutex_) = false;  // A write started (with the metadata).
  grpc::Status final_status_ ABSL_GUARDED_BY(mutex_);
};

// A History call. Its answer's place in the history answer budget is held until gRPC is done
// with the call (the answer written or the call gone).
class HistoryReactor final : public grpc::ServerUnaryReactor {
 public:
  void FinishHolding(std::shared_ptr<void> place) {
    place_ = std::move(place);
    Finish(grpc::Status::OK);
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<void> place_;
};

class FailedReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FailedReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

SubscriberService::SubscriberService(ClientContext& clients, Engine& engine,
                                     const Authenticator& authenticator, EventLoops& loops,
                                     ConnectionLimits& connections, HistoryReads& history_reads)
    : clients_(clients),
      engine_(engine),
      authenticator_(authenticator),
      loops_(loops),
      connections_(connections),
      history_reads_(history_reads) {}

grpc::ServerUnaryReactor* SubscriberService::History(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request_bytes,
                                                     grpc::ByteBuffer* response) {
  auto* reactor = new HistoryReactor();
  herald::v1::HistoryRequest request;
  if (!ParseRequest(*request_bytes, request)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "the request is not a HistoryRequest"));
    return reactor;
  }
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  absl::Status status = grant.ok() ? ValidateTopic(request.topic()) : grant.status();
  if (status.ok() && !grant->MaySubscribe(request.topic())) {
    status = absl::PermissionDeniedError("this credential may not read " + request.topic());
  }
  if (status.ok() && !history_reads_.rates.Allow(*grant)) status = kReadRateExceeded;
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  size_t limit = request.limit() == 0 ? kDefaultHistoryLimit : request.limit();
  // The answer is built on an event loop, not on the engine's thread: a large one must not hold
  // up every publish and live event of a Redis node.
  boost::asio::io_context& loop = loops_.context(next_shard_.fetch_add(1) % loops_.size());
  engine_.ReadHistory(
      request.topic(), limit,
      [&loop, &budget = history_reads_.answers, reactor, response, topic = request.topic(),
       reader = HistoryReader(*grant, GrpcPeerBucket(context->peer()))](
          absl::StatusOr<TopicHistory> history) mutable {
        boost::asio::post(loop, [&budget, reactor, response, topic = std::move(topic),
                                 reader = std::move(reader), history = std::move(history)] {
          if (!history.ok()) {
            reactor->Finish(ToGrpcStatus(history.status()));
            return;
          }
          *response = HistoryAnswer(topic, *history);
          size_t bytes = response->Length();
          std::shared_ptr<void> place = budget.Take(bytes, reader);
          if (!place) {
            response->Clear();
            reactor->Finish(ToGrpcStatus(HistoryAnswerRefused(budget, bytes)));
            return;
          }
          reactor->FinishHolding(std::move(place));
        });
      });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SubscriberService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  if (clients_.draining.load()) {
    return new FailedReactor(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "the gateway is shutting down"));
  }
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) return new FailedReactor(ToGrpcStatus(grant.status()));
  // The method is registered raw, so events go out as the bytes they are kept in; the request
  // is parsed here.
  herald::v1::SubscribeRequest parsed;
  if (!ParseRequest(*request_bytes, parsed)) {
    return new FailedReactor(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request is not a SubscribeRequest"));
  }
  const herald::v1::SubscribeRequest* request = &parsed;
  if (request->topics().empty()) {
    return new FailedReactor(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "subscribe to at least one topic"));
  }
  if (static_cast<size_t>(request->topics_size()) > clients_.config.max_topics_per_connection) {
    return new FailedReactor(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "too many topics"));
  }
  std::vector<TopicRequest> topics;
  for (const std::string& topic : request->topics()) {
    if (absl::Status status = ValidateTopic(topic); !status.ok()) {
      return new FailedReactor(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(status.message())));
    }
    if (!grant->MaySubscribe(topic)) {
      return new FailedReactor(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                            "this credential may not subscribe to " + topic));
    }
    topics.push_back({topic, std::nullopt});
  }
  for (const herald::v1::StreamPosition& since : request->since()) {
    auto topic = std::find_if(topics.begin(), topics.end(),
                              [&](const TopicRequest& t) { return t.topic == since.topic(); });
    if (topic == topics.end()) {
      return new FailedReactor(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            "a since position names a topic not subscribed"));
    }
    topic->since = TopicPosition{since.epoch(), since.offset()};
  }
  // Streams share one HTTP/2 connection: each counts under the connection caps on its own.
  absl::StatusOr<ConnectionSlot> slot =
      connections_.Acquire(GrpcPeerBucket(context->peer()), grant->CredentialKey());
  if (!slot.ok()) return new FailedReactor(ToGrpcStatus(slot.status()));
  size_t shard = next_shard_.fetch_add(1) % clients_.hub.shard_count();
  return new SubscribeReactor(*context, clients_, shard, loops_.context(shard), std::move(topics),
                              *std::move(grant), *std::move(slot), GrpcPeerAddress(context->peer()));
}

}  // namespace herald
