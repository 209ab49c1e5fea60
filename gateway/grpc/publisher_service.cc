// Publisher service reactors.
#include "grpc/publisher_service.h"

#include "hub/error_proto.h"
#include "hub/publish_validation.h"

namespace herald {
namespace {

grpc::Status ToGrpcStatus(const herald::v1::Error& error) {
  return grpc::Status(static_cast<grpc::StatusCode>(error.code()), error.message());
}

// Reads one request, publishes it, writes its response, then reads the next: responses go out
// one per request and in order.
class PublishStreamReactor final
    : public grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse> {
 public:
  PublishStreamReactor(const Config& config, Engine& engine) : config_(config), engine_(engine) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    PublishOne(request_, config_, engine_, [this](herald::v1::PublishResponse response) {
      response_ = std::move(response);
      StartWrite(&response_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const Config& config_;
  Engine& engine_;
  herald::v1::PublishRequest request_;
  herald::v1::PublishResponse response_;
};

}  // namespace

void PublishOne(const herald::v1::PublishRequest& request, const Config& config, Engine& engine,
                std::function<void(herald::v1::PublishResponse)> done) {
  herald::v1::PublishResponse response;
  response.set_request_id(request.request_id());
  response.set_topic(request.topic());
  if (absl::Status status = ValidatePublishRequest(request, config.max_message_bytes);
      !status.ok()) {
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

PublisherService::PublisherService(const Config& config, Engine& engine)
    : config_(config), engine_(engine) {}

grpc::ServerUnaryReactor* PublisherService::Publish(grpc::CallbackServerContext* context,
                                                    const herald::v1::PublishRequest* request,
                                                    herald::v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  PublishOne(*request, config_, engine_, [reactor, response](herald::v1::PublishResponse result) {
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
  return new PublishStreamReactor(config_, engine_);
}

}  // namespace herald
