// One node's part of each Admin call, read from (or acted on) its own clients. The gRPC service
// answers from this node alone on the memory engine and merges every node's part with Redis.
#pragma once

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "auth/authenticator.h"
#include "client/client_registry.h"
#include "herald/v1/admin.pb.h"
#include "hub/hub.h"

namespace herald {

// Requests reach these methods checked (AdminService validates them): limits set, a topic or
// pattern valid and covered by the caller's key. Every `done` runs once, on any thread.
class NodeAdmin {
 public:
  // All must outlive the NodeAdmin.
  NodeAdmin(std::string node, ClientRegistry& registry, Hub& hub);

  herald::v1::NodeInfo Info() const;
  // Every topic this node's clients follow that matches `pattern` (empty: any) and `grant`,
  // in name order, with its subscribers here (no positions, no limit: the caller merges).
  void Topics(const std::string& pattern, const AdminGrant& grant,
              std::function<void(herald::v1::TopicsResponse)> done);
  void Presence(const herald::v1::PresenceRequest& request,
                std::function<void(herald::v1::PresenceResponse)> done);
  void Connections(const herald::v1::ConnectionsRequest& request,
                   std::function<void(herald::v1::ConnectionsResponse)> done);
  void Disconnect(const herald::v1::DisconnectRequest& request,
                  std::function<void(herald::v1::DisconnectResponse)> done);
  void Unsubscribe(const herald::v1::UnsubscribeRequest& request,
                   std::function<void(herald::v1::UnsubscribeResponse)> done);

  const std::string& node() const { return node_; }

 private:
  const std::string node_;
  ClientRegistry& registry_;
  Hub& hub_;
  const absl::Time started_;
};

}  // namespace herald
