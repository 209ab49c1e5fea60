// One node's part of each Admin call, read from (or acted on) its own clients. ClusterAdmin
// asks every node for its part; the gRPC service merges them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "client/client_registry.h"
#include "herald/v1/admin.pb.h"

namespace herald {

// How many clients a Presence or Connections answer lists: a request's 0 takes the default, more
// than the most is cut to it.
inline constexpr uint32_t kDefaultClientsListed = 100;
inline constexpr uint32_t kMostClientsListed = 1000;
inline uint32_t ClientsListed(uint32_t asked) {
  return asked == 0 ? kDefaultClientsListed : std::min(asked, kMostClientsListed);
}

// Requests reach these methods checked (AdminService validates them): limits set, a topic or
// pattern valid and covered by the caller's key. Every `done` runs once, on any thread.
class NodeAdmin {
 public:
  // `registry` must outlive the NodeAdmin.
  NodeAdmin(std::string node, ClientRegistry& registry);

  // This node alone in `nodes`.
  void Info(const herald::v1::InfoRequest& request,
            std::function<void(herald::v1::InfoResponse)> done);
  // Every topic this node's clients follow that matches the request's pattern (empty: any), in
  // name order, with its subscribers here (no positions, no limit: the asker merges the nodes'
  // answers and keeps what its key covers).
  void Topics(const herald::v1::TopicsRequest& request,
              std::function<void(herald::v1::TopicsResponse)> done);
  void Presence(const herald::v1::PresenceRequest& request,
                std::function<void(herald::v1::PresenceResponse)> done);
  void Connections(const herald::v1::ConnectionsRequest& request,
                   std::function<void(herald::v1::ConnectionsResponse)> done);
  void Disconnect(const herald::v1::DisconnectRequest& request,
                  std::function<void(herald::v1::DisconnectResponse)> done);
  void Unsubscribe(const herald::v1::UnsubscribeRequest& request,
                   std::function<void(herald::v1::UnsubscribeResponse)> done);

 private:
  const std::string node_;
  ClientRegistry& registry_;
  const absl::Time started_;
};

}  // namespace herald
