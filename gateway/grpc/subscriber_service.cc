// Subscriber service: each call is a transport attached to one shard of the hub.
#include "grpc/subscriber_service.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "codec/encoded_event.h"
#include "grpc/call_auth.h"
#include "hub/topic.h"

namespace herald {
namespace {

// The event's encoding, shared: the buffer refers to the event's bytes (and keeps the event
// alive) instead of serializing it again for every consumer; its epoch follows as a field of
// its own (a few bytes).
grpc::ByteBuffer SharedEventBytes(const std::shared_ptr<const EncodedEvent>& event) {
  absl::string_view bytes = event->event_bytes();
  auto* owner = new std::shared_ptr<const EncodedEvent>(event);
  grpc::Slice slices[2] = {
      grpc::Slice(
          const_cast<char*>(bytes.data()), bytes.size(),
          [](void* owner) { delete static_cast<std::shared_ptr<const EncodedEvent>*>(owner); },
          owner),
      grpc::Slice(event->epoch_field())};
  return grpc::ByteBuffer(slices, slices[1].size() > 0 ? 2 : 1);
}

// Streams the events its shard delivers. The shard calls the Transport methods on its loop;
// gRPC calls the reactor methods on its own threads; the mutex orders the two. The hub's
// pointer to this object stays valid until OnDone posts the detach and the delete to the shard.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public Transport {
 public:
  // `loop` runs shard `shard`; the call ends with UNAUTHENTICATED at `expires` (its token's).
  SubscribeReactor(Hub& hub, Metrics& metrics, size_t shard, boost::asio::io_context& loop,
                   const Config& config, const std::atomic<bool>& draining,
                   std::vector<TopicRequest> topics, absl::Time expires)
      : hub_(hub),
        metrics_(metrics),
        shard_(shard),
        max_queue_bytes_(config.max_queue_bytes),
        max_total_bytes_(config.max_queue_bytes + config.max_replay_bytes),
        expires_(expires),
        expiry_timer_(loop) {
    metrics_.ConnectionOpened(TransportKind::kGrpc);
    hub_.shard(shard_).Post([this, &draining, topics = std::move(topics)]() mutable {
      if (expires_ != absl::InfiniteFuture()) ScheduleExpiry();
      hub_.Subscribe(shard_, this, std::move(topics),
                     [this, &draining](
                         std::vector<absl::StatusOr<herald::v1::SubscribeResult>> results) {
                       absl::MutexLock lock(&mutex_);
                       for (const auto& result : results) {
                         if (!result.ok()) FinishLocked(ToGrpcStatus(result.status()));
                       }
                       // A drain that began meanwhile may have closed the shard's transports
                       // before this one attached.
                       if (draining.load()) {
                         FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                   "the gateway is shutting down"));
                       }
                       // Initial metadata tells the client it is live: what it missed (when
                       // history held it) is queued, and every later event follows. A call
                       // already finishing has sent its metadata.
                       if (!finishing_) StartSendInitialMetadata();
                     });
    });
  }

  // Transport:
  // Every event goes out whole, epoch included: a Subscribe call has no subscribe answer to
  // tell its epoch.
  void Enqueue(const std::shared_ptr<const EncodedEvent>& event, Delivery delivery) override {
    Queue(event, delivery.replayed);
  }

  size_t ReplayCost(const EncodedEvent& event) const override {
    return event.ws_frame().size();
  }

  size_t ReplayRoom() const override {
    absl::MutexLock lock(&mutex_);
    return max_total_bytes_ - std::min(max_total_bytes_, total_bytes_);
  }

  void Flush() override {
    absl::MutexLock lock(&mutex_);
    WriteNextLocked();
  }

  void Close(const Disconnect& disconnect) override {
    absl::MutexLock lock(&mutex_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, disconnect.reason));
  }

  // grpc::ServerWriteReactor:
  void OnSendInitialMetadataDone(bool ok) override {}

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mutex_);
    in_flight_.Clear();
    if (!ok) {
      DropQueueLocked();
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mutex_);
    DropQueueLocked();
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    metrics_.ConnectionClosed(TransportKind::kGrpc);
    hub_.shard(shard_).Post([this] {
      // A wait cancelled here completes later with an error and never touches `this`.
      expiry_timer_.cancel();
      hub_.Detach(shard_, this);
      delete this;
    });
  }

 private:
  struct Queued {
    std::shared_ptr<const EncodedEvent> event;
    bool replayed;
  };

  void Queue(const std::shared_ptr<const EncodedEvent>& event, bool replayed) {
    absl::MutexLock lock(&mutex_);
    if (finishing_) return;
    size_t bytes = event->ws_frame().size();
    bool over = replayed ? total_bytes_ + bytes > max_total_bytes_
                         : live_bytes_ + bytes > max_queue_bytes_;
    if (over) {
      DropQueueLocked();
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "slow consumer: the outgoing queue is full"));
      return;
    }
    total_bytes_ += bytes;
    if (!replayed) live_bytes_ += bytes;
    queue_.push_back({event, replayed});
    metrics_.EventsDelivered(shard_, TransportKind::kGrpc);
  }

  // On the shard's loop.
  void ScheduleExpiry() {
    expiry_timer_.expires_after(NextExpiryCheck(expires_));
    expiry_timer_.async_wait([this](const boost::system::error_code& error) {
      if (error) return;
      if (absl::Now() < expires_) {
        ScheduleExpiry();
        return;
      }
      absl::MutexLock lock(&mutex_);
      DropQueueLocked();
      FinishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token expired"));
    });
  }

  void DropQueueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    queue_.clear();
    total_bytes_ = 0;
    live_bytes_ = 0;
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (in_flight_.Valid() || finished_) return;
    if (queue_.empty()) {
      if (finishing_) {
        finished_ = true;
        Finish(final_status_);
      }
      return;
    }
    Queued next = std::move(queue_.front());
    queue_.pop_front();
    size_t bytes = next.event->ws_frame().size();
    total_bytes_ -= bytes;
    if (!next.replayed) live_bytes_ -= bytes;
    in_flight_ = SharedEventBytes(next.event);
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

  Hub& hub_;
  Metrics& metrics_;
  const size_t shard_;
  const size_t max_queue_bytes_;
  const size_t max_total_bytes_;
  const absl::Time expires_;
  boost::asio::steady_timer expiry_timer_;  // Used on the shard's loop only.
  mutable absl::Mutex mutex_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mutex_);
  // The event being written, apart from the queue: dropping the queue never touches it.
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mutex_);
  size_t total_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  size_t live_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  bool finishing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mutex_);
};

class FailedReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FailedReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

SubscriberService::SubscriberService(const Config& config, Hub& hub, Engine& engine,
                                     Metrics& metrics, const std::atomic<bool>& draining,
                                     const Authenticator& authenticator, EventLoops& loops)
    : config_(config),
      hub_(hub),
      engine_(engine),
      metrics_(metrics),
      draining_(draining),
      authenticator_(authenticator),
      loops_(loops) {}

grpc::ServerUnaryReactor* SubscriberService::History(grpc::CallbackServerContext* context,
                                                     const herald::v1::HistoryRequest* request,
                                                     herald::v1::HistoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  absl::Status status = grant.ok() ? ValidateTopic(request->topic()) : grant.status();
  if (status.ok() && !grant->MaySubscribe(request->topic())) {
    status = absl::PermissionDeniedError("this credential may not read " + request->topic());
  }
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  size_t limit = request->limit() == 0 ? kDefaultHistoryLimit : request->limit();
  engine_.ReadHistory(request->topic(), limit,
                      [reactor, response, topic = request->topic()](
                          absl::StatusOr<TopicHistory> history) {
                        if (!history.ok()) {
                          reactor->Finish(grpc::Status(
                              static_cast<grpc::StatusCode>(history.status().code()),
                              std::string(history.status().message())));
                          return;
                        }
                        response->set_topic(topic);
                        response->set_epoch(history->position.epoch);
                        response->set_offset(history->position.offset);
                        size_t first =
                            FirstOfLatestWithin(history->events, kMaxHistoryAnswerBytes);
                        for (size_t i = first; i < history->events.size(); ++i) {
                          *response->add_events() = history->events[i]->event();
                        }
                        reactor->Finish(grpc::Status::OK);
                      });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SubscriberService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  if (draining_.load()) {
    return new FailedReactor(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "the gateway is shutting down"));
  }
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) return new FailedReactor(ToGrpcStatus(grant.status()));
  // The method is registered raw, so events go out as the bytes they are kept in; the request
  // is parsed here.
  herald::v1::SubscribeRequest parsed;
  grpc::ByteBuffer request_copy(*request_bytes);
  if (!grpc::SerializationTraits<herald::v1::SubscribeRequest>::Deserialize(&request_copy, &parsed)
           .ok()) {
    return new FailedReactor(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request is not a SubscribeRequest"));
  }
  const herald::v1::SubscribeRequest* request = &parsed;
  if (request->topics().empty()) {
    return new FailedReactor(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "subscribe to at least one topic"));
  }
  if (static_cast<size_t>(request->topics_size()) > config_.max_topics_per_connection) {
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
  size_t shard = next_shard_.fetch_add(1) % hub_.shard_count();
  return new SubscribeReactor(hub_, metrics_, shard, loops_.context(shard), config_, draining_,
                              std::move(topics), grant->expires);
}

}  // namespace herald
