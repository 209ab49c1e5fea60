// Fuzzes the WebSocket command decoder and handler: a binary frame parsed as a ClientMessage,
// then the checks WebSocketSession runs before it touches the hub (topic, publish validation,
// the grant's permissions, token refresh), and the Reply it would send.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/authenticator.h"
#include "auth/grant.h"
#include "auth/topic_pattern.h"
#include "event_checks.h"
#include "fuzz_check.h"
#include "herald/v1/websocket.pb.h"
#include "codec/error_proto.h"
#include "publish/publish_validation.h"
#include "topic/topic.h"

namespace herald::fuzz {
namespace {

constexpr size_t kMaxMessageBytes = 65536;  // The gateway's default --max_message_bytes.

// The connection's grant, as a token could carry it.
const Grant& ConnectionGrant() {
  static const Grant* grant = [] {
    auto* made = new Grant;
    made->subject = "ada";
    made->subscribe = {"chat.*", "prices.>", "user.42.inbox", "*.status"};
    made->publish = {"chat.>", "bots.*.cmd"};
    return made;
  }();
  return *grant;
}

// Checks refresh tokens with the seed corpus's HS256 secret.
const Authenticator& TokenAuthenticator() {
  static const Authenticator* authenticator = [] {
    AuthConfig config;
    config.jwt_hs256_secret = kHs256Secret;
    absl::StatusOr<std::unique_ptr<Authenticator>> made = Authenticator::Create(config);
    HERALD_FUZZ_CHECK(made.ok());
    return made->release();
  }();
  return *authenticator;
}

// The reply of a command that failed before the hub.
herald::v1::Reply ErrorReply(uint32_t id, const absl::Status& status) {
  HERALD_FUZZ_CHECK(!status.ok());
  herald::v1::Reply reply;
  reply.set_id(id);
  *reply.mutable_error() = ErrorProto(status);
  return reply;
}

// What WebSocketSession::HandleCommand would answer without the hub; for a command that would
// reach the hub or the engine, a stand-in success reply. (The per-credential publish rate limit
// is not modelled: it holds no parsing.)
herald::v1::Reply Handle(const herald::v1::ClientMessage& message) {
  const Grant& grant = ConnectionGrant();
  herald::v1::Reply reply;
  reply.set_id(message.id());
  switch (message.command_case()) {
    case herald::v1::ClientMessage::kSubscribe: {
      const std::string& topic = message.subscribe().topic();
      if (absl::Status status = ValidateTopic(topic); !status.ok()) {
        return ErrorReply(message.id(), status);
      }
      bool allowed = grant.MaySubscribe(topic);
      HERALD_FUZZ_CHECK(allowed == ReferenceAnyMatches(grant.subscribe, topic));
      if (!allowed) {
        return ErrorReply(message.id(),
                          absl::PermissionDeniedError("this token may not subscribe to " + topic));
      }
      herald::v1::SubscribeResult* result = reply.mutable_subscribed();
      result->set_topic(topic);
      result->set_epoch(message.subscribe().epoch());
      result->set_offset(message.subscribe().offset());
      return reply;
    }
    case herald::v1::ClientMessage::kUnsubscribe: {
      const std::string& topic = message.unsubscribe().topic();
      if (absl::Status status = ValidateTopic(topic); !status.ok()) {
        return ErrorReply(message.id(), status);
      }
      reply.mutable_unsubscribed()->set_topic(topic);
      return reply;
    }
    case herald::v1::ClientMessage::kPublish: {
      const herald::v1::PublishRequest& request = message.publish();
      if (absl::Status status = ValidatePublishRequest(request, kMaxMessageBytes); !status.ok()) {
        HERALD_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
        return ErrorReply(message.id(), status);
      }
      bool allowed = grant.MayPublish(request.topic());
      HERALD_FUZZ_CHECK(allowed == ReferenceAnyMatches(grant.publish, request.topic()));
      if (!allowed) {
        return ErrorReply(message.id(), absl::PermissionDeniedError(
                                            "this credential may not publish to " + request.topic()));
      }
      CheckEventEncodings(EventFromRequest(request));
      herald::v1::PublishResponse* published = reply.mutable_published();
      published->set_request_id(request.request_id());
      published->set_topic(request.topic());
      published->set_offset(42);
      return reply;
    }
    case herald::v1::ClientMessage::kRefresh: {
      absl::StatusOr<Grant> refreshed =
          TokenAuthenticator().Authenticate(message.refresh().token(), FuzzNow());
      if (!refreshed.ok()) {
        HERALD_FUZZ_CHECK(refreshed.status().code() == absl::StatusCode::kUnauthenticated);
        return ErrorReply(message.id(), refreshed.status());
      }
      HERALD_FUZZ_CHECK(!refreshed->Expired(FuzzNow()));
      if (refreshed->subject != grant.subject || refreshed->publisher_key != grant.publisher_key ||
          (grant.subject.empty() && !grant.open)) {
        return ErrorReply(message.id(), absl::PermissionDeniedError(
                                            "a refresh needs a token for the same sub as the "
                                            "connection's"));
      }
      // The session checks the new grant against its subscriptions; invalid patterns match
      // nothing.
      std::vector<std::string> valid_patterns;
      for (const std::string& pattern : refreshed->subscribe) {
        if (ValidateTopicPattern(pattern).ok()) valid_patterns.push_back(pattern);
      }
      for (const char* topic : {"chat.lobby", "prices.eu.btc", "user.42.inbox"}) {
        HERALD_FUZZ_CHECK(refreshed->MaySubscribe(topic) ==
                          ReferenceAnyMatches(valid_patterns, topic));
      }
      reply.mutable_refreshed();
      return reply;
    }
    case herald::v1::ClientMessage::kPing:
      reply.mutable_pong();
      return reply;
    case herald::v1::ClientMessage::COMMAND_NOT_SET:
      break;
  }
  HERALD_FUZZ_CHECK(false);  // The session closes with 4400 before handling such a message.
  return reply;
}

}  // namespace
}  // namespace herald::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // Invalid UTF-8 is expected, not news.
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As WebSocketSession::OnRead: a frame that does not parse, or has no command, closes 4400.
  herald::v1::ClientMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (message.command_case() == herald::v1::ClientMessage::COMMAND_NOT_SET) return 0;
  herald::fuzz::CheckReplyRoundTrip(herald::fuzz::Handle(message));
  return 0;
}
