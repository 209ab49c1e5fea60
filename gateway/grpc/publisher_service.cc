// Publisher service reactors.
#include "grpc/publisher_service.h"

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "grpc/call_auth.h"
#include "hub/error_proto.h"
#include "hub/publish_validation.h"

namespace herald {
namespace {

grpc::Status ToGrpcStatus(const herald::v1::Error& error) {
  return grpc::Status(static_cast<grpc::StatusCode>(error.code()), error.message());
}

}  // namespace

// Reads one request, publishes it, writes its response, then reads the next: responses go out
// one per request and in order. gRPC runs the reactions on its threads; Drain comes from the
// gateway's; the mutex orders them.
class PublishStreamReactor final
    : public grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse> {
 public:
  PublishStreamReactor(PublisherService& service, const Config& config, Engine& engine,
                       PublishRateLimits& rates, Grant grant)
      : service_(service),
        config_(config),
        engine_(engine),
        rates_(rates),
        grant_(std::move(grant)) {
    absl::MutexLock lock(&mutex_);
    ReadLocked();
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mutex_);
    reading_ = false;
    if (finished_) return;  // Drained while this read completed: not published.
    if (!ok) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    // A stream outliving its token ends; the publisher reconnects with a fresh one.
    if (grant_.Expired(absl::Now())) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token expired"));
      return;
    }
    PublishOne(request_, grant_, config_, engine_, rates_, [this](herald::v1::PublishResponse response) {
      response_ = std::move(response);
      StartWrite(&response_);
    });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mutex_);
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken"));
    } else if (draining_) {
      FinishLocked(kShuttingDown);
    } else {
      ReadLocked();
    }
  }

  // Ends the stream once the item in progress is answered (at once when it waits for one), so
  // a publisher moves to another node instead of waiting for the shutdown deadline.
  void Drain() {
    absl::MutexLock lock(&mutex_);
    draining_ = true;
    if (reading_) FinishLocked(kShuttingDown);
  }

  void OnDone() override {
    service_.Unregister(this);
    delete this;
  }

 private:
  inline static const grpc::Status kShuttingDown{grpc::StatusCode::UNAVAILABLE,
                                                 "the gateway is shutting down"};

  void ReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    reading_ = true;
    StartRead(&request_);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  PublisherService& service_;
  const Config& config_;
  Engine& engine_;
  PublishRateLimits& rates_;
  const Grant grant_;
  herald::v1::PublishRequest request_;
  herald::v1::PublishResponse response_;
  absl::Mutex mutex_;
  bool reading_ ABSL_GUARDED_BY(mutex_) = false;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
};

// Ends a PublishStream whose credentials were refused, before any item is read.
class RefusedStreamReactor final
    : public grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse> {
 public:
  explicit RefusedStreamReactor(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

void PublishOne(const herald::v1::PublishRequest& request, const Grant& grant,
                const Config& config, Engine& engine, PublishRateLimits& rates,
                std::function<void(herald::v1::PublishResponse)> done) {
  herald::v1::PublishResponse response;
  response.set_request_id(request.request_id());
  response.set_topic(request.topic());
  absl::Status status = ValidatePublishRequest(request, config.max_message_bytes);
  if (status.ok() && !grant.MayPublish(request.topic())) {
    status = absl::PermissionDeniedError("this credential may not publish to " + request.topic());
  }
  if (status.ok()) status = rates.Allow(grant);
  if (!status.ok()) {
    *response.mutable_error() = ErrorProto(status);
    done(std::move(response));
    return;
  }
  engine.Publish(request, [done = std::move(done), response = std::move(response)](
                              absl::StatusOr<TopicPosition> position) mutable {
    if (position.ok()) {
      response.set_offset(position->offset);
      response.set_epoch(position->epoch);
    } else {
      *response.mutable_error() = ErrorProto(position.status());
    }
    done(std::move(response));
  });
}

PublisherService::PublisherService(const Config& config, Engine& engine,
                                   const Authenticator& authenticator, PublishRateLimits& rates)
    : config_(config), engine_(engine), authenticator_(authenticator), rates_(rates) {}

grpc::ServerUnaryReactor* PublisherService::Publish(grpc::CallbackServerContext* context,
                                                    const herald::v1::PublishRequest* request,
                                                    herald::v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) {
    reactor->Finish(ToGrpcStatus(grant.status()));
    return reactor;
  }
  PublishOne(*request, *grant, config_, engine_, rates_, [reactor, response](herald::v1::PublishResponse result) {
    if (result.has_error()) {
      reactor->Finish(ToGrpcStatus(result.error()));
      return;
    }
    *response = std::move(result);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse>*
PublisherService::PublishStream(grpc::CallbackServerContext* context) {
  absl::StatusOr<Grant> grant = AuthenticateCall(*context, authenticator_);
  if (!grant.ok()) return new RefusedStreamReactor(grant.status());
  auto* reactor = new PublishStreamReactor(*this, config_, engine_, rates_, *std::move(grant));
  absl::MutexLock lock(&streams_mutex_);
  streams_.insert(reactor);
  if (draining_) reactor->Drain();
  return reactor;
}

void PublisherService::Unregister(PublishStreamReactor* reactor) {
  absl::MutexLock lock(&streams_mutex_);
  streams_.erase(reactor);
}

void PublisherService::DrainStreams() {
  absl::MutexLock lock(&streams_mutex_);
  draining_ = true;
  for (PublishStreamReactor* reactor : streams_) reactor->Drain();
}

}  // namespace herald
