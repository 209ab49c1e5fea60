// The publish pipeline.
#include "publish/publish_pipeline.h"

#include "codec/error_proto.h"
#include "publish/publish_validation.h"

namespace herald {

void PublishPipeline::Publish(const herald::v1::PublishRequest& request, const Grant& grant,
                              PublishWay way, Done done) {
  absl::Status status = ValidatePublishRequest(request, max_message_bytes_);
  if (status.ok() && !grant.MayPublish(request.topic())) {
    status = absl::PermissionDeniedError("this credential may not publish to " + request.topic());
  }
  // A client's publish follows the topic's rule: any but a publisher key's, or, on a gateway
  // without keys, one over gRPC (its port is the backends').
  bool backend = grant.publisher_key || (grant.open && way == PublishWay::kGrpc);
  if (status.ok() && rules_ && !backend &&
      rules_->current()->For(request.topic()).client_publish == ClientPublish::kRefused) {
    status = absl::PermissionDeniedError(
        "clients may not publish to " + request.topic() + " (client_publish: false)");
  }
  if (status.ok()) status = admission_.Allow(grant);
  if (!status.ok()) {
    metrics_.Published(way, status);
    done({request.request_id(), request.topic(), status});
    return;
  }
  engine_.Publish(request, grant.CredentialKey(),
                  [done = std::move(done), request_id = request.request_id(),
                   topic = request.topic(), way,
                   &metrics = metrics_](absl::StatusOr<TopicPosition> position) mutable {
    metrics.Published(way, position.status());
    done({std::move(request_id), std::move(topic), std::move(position)});
  });
}

herald::v1::PublishResponse PublishAnswer(const PublishOutcome& outcome) {
  herald::v1::PublishResponse response;
  response.set_request_id(outcome.request_id);
  response.set_topic(outcome.topic);
  if (outcome.position.ok()) {
    response.set_offset(outcome.position->offset);
    response.set_epoch(outcome.position->epoch);
  } else {
    *response.mutable_error() = ErrorProto(outcome.position.status());
  }
  return response;
}

}  // namespace herald
