// The Admin gRPC service (herald.v1.Admin): checks the admin key and the request, asks every
// node (ClusterAdmin) and merges their answers, and reads positions from the engine.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "admin/cluster_admin.h"
#include "auth/authenticator.h"
#include "engine/engine.h"
#include "herald/v1/admin.grpc.pb.h"

namespace herald {

class AdminService final : public herald::v1::Admin::CallbackService {
 public:
  // Limits of the lists answered (a request's 0 takes the default, more is cut to the most).
  static constexpr uint32_t kDefaultTopics = 1000;
  static constexpr uint32_t kMostTopics = 10000;

  // How long a call waits for the nodes' answers at most (less when its deadline is nearer).
  static constexpr absl::Duration kMostWait = absl::Seconds(2);

  // All must outlive the service.
  AdminService(const Authenticator& authenticator, ClusterAdmin& cluster, Engine& engine);

  // herald::v1::Admin::CallbackService:
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* context,
                                 const herald::v1::InfoRequest* request,
                                 herald::v1::InfoResponse* response) override;
  grpc::ServerUnaryReactor* Topics(grpc::CallbackServerContext* context,
                                   const herald::v1::TopicsRequest* request,
                                   herald::v1::TopicsResponse* response) override;
  grpc::ServerUnaryReactor* Presence(grpc::CallbackServerContext* context,
                                     const herald::v1::PresenceRequest* request,
                                     herald::v1::PresenceResponse* response) override;
  grpc::ServerUnaryReactor* Connections(grpc::CallbackServerContext* context,
                                        const herald::v1::ConnectionsRequest* request,
                                        herald::v1::ConnectionsResponse* response) override;
  grpc::ServerUnaryReactor* Disconnect(grpc::CallbackServerContext* context,
                                       const herald::v1::DisconnectRequest* request,
                                       herald::v1::DisconnectResponse* response) override;
  grpc::ServerUnaryReactor* Unsubscribe(grpc::CallbackServerContext* context,
                                        const herald::v1::UnsubscribeRequest* request,
                                        herald::v1::UnsubscribeResponse* response) override;
  grpc::ServerUnaryReactor* RemoveHistory(grpc::CallbackServerContext* context,
                                          const herald::v1::RemoveHistoryRequest* request,
                                          herald::v1::RemoveHistoryResponse* response) override;

 private:
  // The caller's grant when its key may act on `topic` (nullopt: on the whole gateway), or why
  // not: FAILED_PRECONDITION (Admin off), UNAUTHENTICATED, INVALID_ARGUMENT (no topic, a bad
  // one), PERMISSION_DENIED (a key for other topics).
  absl::StatusOr<AdminGrant> Allowed(const grpc::CallbackServerContext& context,
                                     const std::optional<std::string>& topic) const;
  // Asks every node `call` with `request`; `merge` adds each node's answer to `response`, then
  // its unanswered nodes are set and `finish` runs (by default: the call ends OK).
  template <typename Response>
  void AskNodes(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                AdminCall call, const google::protobuf::Message& request, Response* response,
                std::function<void(Response&, Response)> merge,
                std::function<void()> finish = nullptr);
  // Fills each listed topic's epoch and offset from the engine, then finishes.
  void AddPositions(herald::v1::TopicsResponse* response, grpc::ServerUnaryReactor* reactor);

  const Authenticator& authenticator_;
  ClusterAdmin& cluster_;
  Engine& engine_;
};

}  // namespace herald
