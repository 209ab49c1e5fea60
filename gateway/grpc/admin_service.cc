// The Admin gRPC service.
#include "grpc/admin_service.h"

#include <algorithm>
#include <atomic>
#include <map>
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

// How long the nodes' answers may take: before the caller gives up; without a deadline, the most.
absl::Duration WaitFor(const grpc::CallbackServerContext& context) {
  absl::Duration left = absl::FromChrono(context.deadline() - std::chrono::system_clock::now());
  return std::clamp(left - absl::Milliseconds(200), absl::Milliseconds(100),
                    AdminService::kMostWait);
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

AdminService::AdminService(const Authenticator& authenticator, ClusterAdmin& cluster,
                           Engine& engine)
    : authenticator_(authenticator), cluster_(cluster), engine_(engine) {}

template <typename Response>
void AdminService::AskNodes(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                            AdminCall call, const google::protobuf::Message& request,
                            Response* response, std::function<void(Response&, Response)> merge,
                            std::function<void()> finish) {
  cluster_.Ask(call, request.SerializeAsString(), WaitFor(*context),
               [response, reactor, merge = std::move(merge),
                finish = std::move(finish)](ClusterAdmin::Answers answers) {
                 for (const std::string& bytes : answers.responses) {
                   Response answer;
                   if (answer.ParseFromString(bytes)) merge(*response, std::move(answer));
                 }
                 for (std::string& node : answers.unanswered_nodes) {
                   response->add_unanswered_nodes(std::move(node));
                 }
                 if (finish) {
                   finish();
                 } else {
                   reactor->Finish(grpc::Status::OK);
                 }
               });
}

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
                                             const herald::v1::InfoRequest* request,
                                             herald::v1::InfoResponse* response) {
  return Answer(context, Allowed(*context, std::nullopt).status(),
                [&](grpc::ServerUnaryReactor* reactor) {
    AskNodes<herald::v1::InfoResponse>(
        context, reactor, AdminCall::kInfo, *request, response,
        [](herald::v1::InfoResponse& into, herald::v1::InfoResponse node) {
          for (herald::v1::NodeInfo& info : *node.mutable_nodes()) *into.add_nodes() = std::move(info);
        });
  });
}

grpc::ServerUnaryReactor* AdminService::Topics(grpc::CallbackServerContext* context,
                                               const herald::v1::TopicsRequest* request,
                                               herald::v1::TopicsResponse* response) {
  absl::StatusOr<AdminGrant> grant = AuthenticateAdminCall(*context, authenticator_);
  absl::Status status = grant.status();
  if (status.ok() && !request->pattern().empty()) status = ValidateTopicPattern(request->pattern());
  return Answer(context, status, [&](grpc::ServerUnaryReactor* reactor) {
    // Subscribers by topic, summed over the nodes, in name order; only what the key covers.
    auto counts = std::make_shared<std::map<std::string, uint64_t>>();
    uint32_t limit = Limit(request->limit(), kDefaultTopics, kMostTopics);
    AskNodes<herald::v1::TopicsResponse>(
        context, reactor, AdminCall::kTopics, *request, response,
        [counts, grant = *grant](herald::v1::TopicsResponse&, herald::v1::TopicsResponse node) {
          for (const herald::v1::TopicInfo& info : node.topics()) {
            if (grant.Covers(info.topic())) (*counts)[info.topic()] += info.subscribers();
          }
        },
        [this, counts, limit, response, reactor] {
          response->set_total(counts->size());
          for (const auto& [topic, subscribers] : *counts) {
            if (static_cast<uint32_t>(response->topics_size()) == limit) break;
            herald::v1::TopicInfo* info = response->add_topics();
            info->set_topic(topic);
            info->set_subscribers(subscribers);
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
    cluster_.Presence(request->topic(), request->limit(), WaitFor(*context),
                      [response, reactor](herald::v1::PresenceResponse merged) {
                        *response = std::move(merged);
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
    checked.set_limit(ClientsListed(request->limit()));
    AskNodes<herald::v1::ConnectionsResponse>(
        context, reactor, AdminCall::kConnections, checked, response,
        [limit = checked.limit()](herald::v1::ConnectionsResponse& into,
                                  herald::v1::ConnectionsResponse node) {
          into.set_count(into.count() + node.count());
          for (herald::v1::ClientInfo& client : *node.mutable_clients()) {
            if (static_cast<uint32_t>(into.clients_size()) == limit) break;
            *into.add_clients() = std::move(client);
          }
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
    AskNodes<herald::v1::DisconnectResponse>(
        context, reactor, AdminCall::kDisconnect, checked, response,
        [](herald::v1::DisconnectResponse& into, herald::v1::DisconnectResponse node) {
          into.set_disconnected(into.disconnected() + node.disconnected());
        });
  });
}

grpc::ServerUnaryReactor* AdminService::Unsubscribe(grpc::CallbackServerContext* context,
                                                    const herald::v1::UnsubscribeRequest* request,
                                                    herald::v1::UnsubscribeResponse* response) {
  absl::Status status = Allowed(*context, request->topic()).status();
  if (status.ok()) status = CheckNamed(request->user(), request->client_id());
  return Answer(context, status, [&](grpc::ServerUnaryReactor* reactor) {
    AskNodes<herald::v1::UnsubscribeResponse>(
        context, reactor, AdminCall::kUnsubscribe, *request, response,
        [](herald::v1::UnsubscribeResponse& into, herald::v1::UnsubscribeResponse node) {
          into.set_unsubscribed(into.unsubscribed() + node.unsubscribed());
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
