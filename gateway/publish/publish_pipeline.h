// The one way an event is published, whatever it came in by (gRPC Publish, PublishBatch and
// PublishStream, the WebSocket publish command, POST /v1/publish).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "auth/grant.h"
#include "engine/engine.h"
#include "herald/v1/event.pb.h"
#include "metrics/metrics.h"
#include "publish/publish_admission.h"
#include "topic/topic_rules.h"

namespace herald {

// How one publish ended: the request it answers, and the position the event was given or why
// it was not published (INVALID_ARGUMENT, PERMISSION_DENIED, RESOURCE_EXHAUSTED, or the engine's
// error).
struct PublishOutcome {
  std::string request_id;
  std::string topic;
  absl::StatusOr<TopicPosition> position;
};

// Thread-safe. validate → authorize → admit (the credential's rate, the gateway's load) →
// engine → answer. Each way in maps the answer to its own form in one place: gRPC with
// ToGrpcStatus, HTTP with HttpStatusFor, a WebSocket reply or a PublishResponse item with
// PublishAnswer.
class PublishPipeline {
 public:
  // Called once: inline on the caller's thread when the event is refused before the engine,
  // otherwise on the engine's thread (possibly inline too: the memory engine answers at once).
  using Done = std::function<void(PublishOutcome)>;

  // `rules` (may be null) refuse client publishes on topics whose rule says client_publish:
  // false. Every publish is counted in `metrics` (herald_events_published_total), which must
  // outlive the pipeline.
  PublishPipeline(size_t max_message_bytes, Engine& engine, PublishAdmission& admission,
                  Metrics& metrics, std::shared_ptr<const TopicRulesStore> rules = nullptr)
      : max_message_bytes_(max_message_bytes),
        engine_(engine),
        admission_(admission),
        metrics_(metrics),
        rules_(std::move(rules)) {}

  void Publish(const herald::v1::PublishRequest& request, const Grant& grant, PublishWay way,
               Done done);

 private:
  const size_t max_message_bytes_;
  Engine& engine_;
  PublishAdmission& admission_;
  Metrics& metrics_;
  const std::shared_ptr<const TopicRulesStore> rules_;
};

// The PublishResponse of a publish: its position, or the error it was refused with.
herald::v1::PublishResponse PublishAnswer(const PublishOutcome& outcome);

}  // namespace herald
