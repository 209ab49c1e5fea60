// Publisher service reactors.
#include "grpc/publisher_service.h"

#include <atomic>
#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/call_auth.h"

namespace herald {

// Reads ahead: up to kMaxInFlight items are published before the first is answered, so a
// publisher is not held to one engine round trip per item (with Redis, they share pipelined
// writes). Items are handed to the engine in the order read, which keeps a stream's events to a
// topic in order, and answered in that order too, one response per item. gRPC runs the
// reactions on its threads, an engine answers on its own, Drain comes from the gateway's: the
// mutex orders them. Lifetime: the reactor scheme (deleted in OnDone). An engine may answer
// after that (a stream may end, broken or drained, while items are still in the engine), so
// answers reach the reactor through a shared link that OnDone clears: a late one finds none.
class PublishStreamReactor final
    : public grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse> {
 public:
  static constexpr size_t kMaxInFlight = 64;

  PublishStreamReactor(PublisherService& service, PublishPipeline& pipeline, Grant grant)
      : service_(service),
        pipeline_(pipeline),
        grant_(std::move(grant)),
        link_(std::make_shared<Link>(this)),
        mutex_(link_->mutex) {
    absl::MutexLock lock(&mutex_);
    ReadLocked();
  }

  void OnReadDone(bool ok) override {
    uint64_t sequence;
    {
      absl::MutexLock lock(&mutex_);
      reading_ = false;
      if (finished_) return;  // Drained while this read completed: not published.
      if (!ok) {
        // The publisher is done sending: the stream ends once every item is answered.
        EndWhenAnsweredLocked(grpc::Status::OK);
        return;
      }
      // A stream outliving its token ends (this item unpublished, those before answered); the
      // publisher reconnects with a fresh one.
      if (grant_.Expired(absl::Now())) {
        EndWhenAnsweredLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token expired"));
        return;
      }
      sequence = next_sequence_++;
      answers_.emplace_back();
      publishing_ = true;
    }
    // Outside the lock: the engine may answer inline (the memory engine does). No read is
    // outstanding, so request_ is this reaction's alone.
    pipeline_.Publish(request_, grant_, PublishWay::kGrpc, [link = link_, sequence](PublishOutcome outcome) {
      absl::MutexLock lock(&link->mutex);
      if (link->reactor != nullptr) link->reactor->Answer(sequence, PublishAnswer(outcome));
    });
    absl::MutexLock lock(&mutex_);
    publishing_ = false;
    if (!finished_ && !ending_ && answers_.size() < kMaxInFlight) ReadLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mutex_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken"));
      return;
    }
    answers_.pop_front();
    ++first_sequence_;
    WriteNextLocked();
    if (FinishWhenAnsweredLocked()) return;
    // Reading paused at kMaxInFlight items goes on (OnReadDone reads next itself).
    if (!reading_ && !publishing_ && !finished_ && !ending_ && answers_.size() < kMaxInFlight) {
      ReadLocked();
    }
  }

  // Ends the stream once the items in progress are answered (at once when none is), so a
  // publisher moves to another node instead of waiting for the shutdown deadline.
  void Drain() { End(kShuttingDown); }

  // Ends the stream with `status` once the items in progress are answered (a revoked key).
  void End(grpc::Status status) {
    absl::MutexLock lock(&mutex_);
    EndWhenAnsweredLocked(std::move(status));
  }

  const Grant& grant() const { return grant_; }

  void OnDone() override {
    service_.Unregister(this);
    {
      absl::MutexLock lock(&mutex_);
      link_->reactor = nullptr;  // Answers still in the engine go nowhere.
    }
    delete this;
  }

 private:
  inline static const grpc::Status kShuttingDown{grpc::StatusCode::UNAVAILABLE,
                                                 "the gateway is shutting down"};

  // Keeps item `sequence`'s answer, and writes it when every earlier one is written.
  void Answer(uint64_t sequence, herald::v1::PublishResponse response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (finished_) return;
    answers_[sequence - first_sequence_] = std::move(response);
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (writing_ || finished_ || answers_.empty() || !answers_.front()) return;
    writing_ = true;
    StartWrite(&*answers_.front());
  }

  // No more items are read; the stream finishes with `status` once every one read is
  // answered. A publisher that finished sending gets OK, whatever else ended the stream too.
  void EndWhenAnsweredLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!ending_ || status.ok()) ending_ = std::move(status);
    FinishWhenAnsweredLocked();
  }

  // Finishes when nothing is left to answer and no more will come; true if it did.
  bool FinishWhenAnsweredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!answers_.empty() || !ending_) return false;
    FinishLocked(*ending_);
    return true;
  }

  void ReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    reading_ = true;
    StartRead(&request_);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  // What engine answers hold: the reactor while it lives, and the mutex.
  struct Link {
    explicit Link(PublishStreamReactor* reactor) : reactor(reactor) {}
    absl::Mutex mutex;
    PublishStreamReactor* reactor ABSL_GUARDED_BY(mutex);
  };

  PublisherService& service_;
  PublishPipeline& pipeline_;
  const Grant grant_;
  herald::v1::PublishRequest request_;
  const std::shared_ptr<Link> link_;
  absl::Mutex& mutex_;  // link_->mutex.
  // One entry per item read and not yet written, in order; set once the engine answered.
  std::deque<std::optional<herald::v1::PublishResponse>> answers_ ABSL_GUARDED_BY(mutex_);
  uint64_t first_sequence_ ABSL_GUARDED_BY(mutex_) = 0;  // The item at answers_.front().
  uint64_t next_sequence_ ABSL_GUARDED_BY(mutex_) = 0;
  bool reading_ ABSL_GUARDED_BY(mutex_) = false;
  bool publishing_ ABSL_GUARDED_BY(mutex_) = false;  // OnReadDone is handing one to the engine.
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  // Set once no more items are read: how the stream ends when all are answered.
  std::optional<grpc::Status> ending_ ABSL_GUARDED_BY(mutex_);
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
};

// Ends a PublishStream whose credentials were refused, before any item is read.
class RefusedStreamReactor final
    : public grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse> {
 public:
  explicit RefusedStreamReactor(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

PublisherService::PublisherService(const Authenticator& authenticator, PublishPipeline& pipeline)
    : authenticator_(authenticator), pipeline_(pipeline) {
  SetMessageAllocatorFor_Publish(&publish_messages_);
  SetMessageAllocatorFor_PublishBatch(&batch_messages_);
}

grpc::ServerUnaryReactor* PublisherService::Publish(grpc::CallbackServerContext* context,
                                                    const herald::v1::PublishRequest* request,
                                                    herald::v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) {
    reactor->Finish(ToGrpcStatus(grant.status()));
    return reactor;
  }
  pipeline_.Publish(*request, *grant, PublishWay::kGrpc, [reactor, response](PublishOutcome outcome) {
    if (!outcome.position.ok()) {
      reactor->Finish(ToGrpcStatus(outcome.position.status()));
      return;
    }
    *response = PublishAnswer(outcome);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PublisherService::PublishBatch(
    grpc::CallbackServerContext* context, const herald::v1::PublishBatchRequest* request,
    herald::v1::PublishBatchResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) {
    reactor->Finish(ToGrpcStatus(grant.status()));
    return reactor;
  }
  const int count = request->requests_size();
  if (count > kMaxBatchItems) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("a batch holds at most ", kMaxBatchItems, " items; this one has ", count)));
    return reactor;
  }
  if (count == 0) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Each item's answer goes to its own slot, from whichever thread the engine answers on; the
  // last one finishes the call.
  for (int i = 0; i < count; ++i) response->add_responses();
  auto unanswered = std::make_shared<std::atomic<int>>(count);
  for (int i = 0; i < count; ++i) {
    pipeline_.Publish(request->requests(i), *grant, PublishWay::kGrpc,
                      [reactor, response, unanswered, i](PublishOutcome outcome) {
                        *response->mutable_responses(i) = PublishAnswer(outcome);
                        if (unanswered->fetch_sub(1, std::memory_order_acq_rel) == 1) {
                          reactor->Finish(grpc::Status::OK);
                        }
                      });
  }
  return reactor;
}

grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse>*
PublisherService::PublishStream(grpc::CallbackServerContext* context) {
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) return new RefusedStreamReactor(grant.status());
  auto* reactor = new PublishStreamReactor(*this, pipeline_, *std::move(grant));
  absl::MutexLock lock(&streams_mutex_);
  streams_.insert(reactor);
  if (draining_) reactor->Drain();
  return reactor;
}

void PublisherService::Unregister(PublishStreamReactor* reactor) {
  absl::MutexLock lock(&streams_mutex_);
  streams_.erase(reactor);
}

void PublisherService::EndStreamsOf(const std::function<bool(const Grant&)>& revoked,
                                    const grpc::Status& status) {
  absl::MutexLock lock(&streams_mutex_);
  for (PublishStreamReactor* reactor : streams_) {
    if (revoked(reactor->grant())) reactor->End(status);
  }
}

void PublisherService::DrainStreams() {
  absl::MutexLock lock(&streams_mutex_);
  draining_ = true;
  for (PublishStreamReactor* reactor : streams_) reactor->Drain();
}

}  // namespace herald
