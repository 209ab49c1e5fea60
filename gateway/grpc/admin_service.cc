// The Admin gRPC service.
#include "grpc/admin_service.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "auth/topic_pattern.h"
#include "grpc/call_auth.h"
#include "topic/topic.h"

namespace herald {
namespace {

constexpr char kDefaultReason[] = "disconnected by an operator";
// A WebSocket close frame holds at most 123 bytes of reason.
constexpr size_t kMostReasonBytes = 123;

uint32_t Limit(uint32_t asked, uint32_t by_default, uint32_t most) {
  return asked == 0 ? by_default : std::min(asked, most);
}

// Disconnect and Unsubscribe act on a user's connections or on one: never on everyone by
// omission.
absl::Status CheckNamed(const std::string& user, const std::string& client_id) {
  if (user.empty() && client_id.empty()) {
    return absl::InvalidArgumentError("name a user or a client_id");
  }
  return absl::OkStatus();
}

// The close a Disconnect asks for, with its defaults; INVALID_ARGUMENT for a code a client may
// not be sent (1001-2999 belong to the WebSocket protocol).
absl::Status CheckClose(herald::v1::DisconnectRequest& request) {
  if (request.code() == 0) request.set_code(4403);
  if (request.code() != 1000 && (request.code() < 3000 || request.code() > 4999)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "code ", request.code(), " is not 1000, 3000-3999 (the application's) or 4000-4999"));
  }
  if (request.reason().empty()) request.set_reason(kDefaultReason);
  if (request.reason().size() > kMostReasonBytes) {
    return absl::InvalidArgumentError("reason is longer than 123 bytes");
  }
  return absl::OkStatus();
}

// Runs `answer` unless `status` is an error, which finishes the call at once.
template <typename Act>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, const absl::Status& status,
                                 Act act) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
  } else {
    act(reactor);
  }
  return reactor;
}

}  // namespace

AdminService::AdminService(const Authenticator& authenticator, NodeAdmin& node, Engine& engine)
    : authenticator_(authenticator), node_(node), engine_(engine) {}

absl::StatusOr<AdminGrant> AdminService::Allowed(const grpc::CallbackServerContext& context,
                                                 const std::optional<std::string>& topic) const {
  absl::StatusOr<AdminGrant> grant = AuthenticateAdminCall(context, authenticator_);
  if (!grant.ok()) return grant.status();
  if (!topic) {
    if (!grant->all()) {
      return absl::PermissionDeniedError(
          "this admin key administers some topics only; this call needs a key for all");
    }
    return grant;
  }
  if (topic->empty()) return absl::InvalidArgumentError("name a topic");
  if (absl::Status valid = ValidateTopic(*topic); !valid.ok()) return valid;
  if (!grant->Covers(*topic)) {
    return absl::PermissionDeniedError("this admin key does not administer " + *topic);
  }
  return grant;
}

grpc::ServerUnaryReactor* AdminService::Info(grpc::CallbackServerContext* context,
                                             const herald::v1::InfoRequest*,
                                             herald::v1::InfoResponse* response) {
  return Answer(context, Allowed(*context, std::nullopt).status(),
                [&](grpc::ServerUnaryReactor* reactor) {
    *response->add_nodes() = node_.Info();
    reactor->Finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* AdminService::Topics(grpc::CallbackServerContext* context,
                                               const herald::v1::TopicsRequest* request,
                                               herald::v1::TopicsResponse* response) {
  absl::StatusOr<AdminGrant> grant = AuthenticateAdminCall(*context, authenticator_);
  absl::Status status = grant.status();
  if (status.ok() && !request->pattern().empty()) status = ValidateTopicPattern(request->pattern());
  uint32_t limit = Limit(request->limit(), kDefaultTopics, kMostTopics);
  return Answer(context, status, [&](grpc::ServerUnaryReactor* reactor) {
    node_.Topics(request->pattern(), *grant,
                 [this, response, reactor, limit](herald::v1::TopicsResponse answer) {
                   *response = std::move(answer);
                   if (static_cast<uint32_t>(response->topics_size()) > limit) {
                     response->mutable_topics()->DeleteSubrange(
                         static_cast<int>(limit), response->topics_size() - static_cast<int>(limit));
                   }
                   AddPositions(response, reactor);
                 });
  });
}

void AdminService::AddPositions(herald::v1::TopicsResponse* response,
                                grpc::ServerUnaryReactor* reactor) {
  if (response->topics_size() == 0) {
    reactor->Finish(grpc::Status::OK);
    return;
  }
  auto left = std::make_shared<std::atomic<int>>(response->topics_size());
  for (herald::v1::TopicInfo& info : *response->mutable_topics()) {
    engine_.ReadHistory(info.topic(), 0, [&info, left, reactor](absl::StatusOr<TopicHistory> read) {
      if (read.ok()) {
        info.set_epoch(read->position.epoch);
        info.set_offset(read->position.offset);
      }
      if (left->fetch_sub(1, std::memory_order_acq_rel) == 1) reactor->Finish(grpc::Status::OK);
    });
  }
}

grpc::ServerUnaryReactor* AdminService::Presence(grpc::CallbackServerContext* context,
                                                 const herald::v1::PresenceRequest* request,
                                                 herald::v1::PresenceResponse* response) {
  return Answer(context, Allowed(*context, request->topic()).status(),
                [&](grpc::ServerUnaryReactor* reactor) {
    herald::v1::PresenceRequest checked = *request;
    checked.set_limit(Limit(request->limit(), kDefaultClients, kMostClients));
    node_.Presence(checked, [response, reactor](herald::v1::PresenceResponse answer) {
      *response = std::move(answer);
      reactor->Finish(grpc::Status::OK);
    });
  });
}

grpc::ServerUnaryReactor* AdminService::Connections(grpc::CallbackServerContext* context,
                                                    const herald::v1::ConnectionsRequest* request,
                                                    herald::v1::ConnectionsResponse* response) {
  return Answer(context, Allowed(*context, std::nullopt).status(),
                [&](grpc::ServerUnaryReactor* reactor) {
    herald::v1::ConnectionsRequest checked = *request;
    checked.set_limit(Limit(request->limit(), kDefaultClients, kMostClients));
    node_.Connections(checked, [response, reactor](herald::v1::ConnectionsResponse answer) {
      *response = std::move(answer);
      reactor->Finish(grpc::Status::OK);
    });
  });
}

grpc::ServerUnaryReactor* AdminService::Disconnect(grpc::CallbackServerContext* context,
                                                   const herald::v1::DisconnectRequest* request,
                                                   herald::v1::DisconnectResponse* response) {
  herald::v1::DisconnectRequest checked = *request;
  absl::Status status = Allowed(*context, std::nullopt).status();
  if (status.ok()) status = CheckNamed(request->user(), request->client_id());
  if (status.ok()) status = CheckClose(checked);
  return Answer(context, status, [&](grpc::ServerUnaryReactor* reactor) {
    node_.Disconnect(checked, [response, reactor](herald::v1::DisconnectResponse answer) {
      *response = std::move(answer);
      reactor->Finish(grpc::Status::OK);
    });
  });
}

grpc::ServerUnaryReactor* AdminService::Unsubscribe(grpc::CallbackServerContext* context,
                                                    const herald::v1::UnsubscribeRequest* request,
                                                    herald::v1::UnsubscribeResponse* response) {
  absl::Status status = Allowed(*context, request->topic()).status();
  if (status.ok()) status = CheckNamed(request->user(), request->client_id());
  return Answer(context, status, [&](grpc::ServerUnaryReactor* reactor) {
    node_.Unsubscribe(*request, [response, reactor](herald::v1::UnsubscribeResponse answer) {
      *response = std::move(answer);
      reactor->Finish(grpc::Status::OK);
    });
  });
}

grpc::ServerUnaryReactor* AdminService::RemoveHistory(
    grpc::CallbackServerContext* context, const herald::v1::RemoveHistoryRequest* request,
    herald::v1::RemoveHistoryResponse*) {
  return Answer(context, Allowed(*context, request->topic()).status(),
                [&](grpc::ServerUnaryReactor* reactor) {
    engine_.RemoveHistory(request->topic(), [reactor](absl::Status removed) {
      reactor->Finish(ToGrpcStatus(removed));
    });
  });
}

}  // namespace herald
