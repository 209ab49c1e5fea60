// The wire forms of failures: herald.v1.Error from an absl::Status, and the close for refused
// connect-time topics.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/v1/event.pb.h"
#include "herald/v1/websocket.pb.h"
#include "hub/transport.h"

namespace herald {

herald::v1::Error ErrorProto(const absl::Status& status);

// The close for a connection one of whose connect-time topics was refused (e.g. the topic cap:
// RESOURCE_EXHAUSTED gives 4429), or nullopt when every topic was subscribed.
std::optional<Disconnect> RefusedTopicDisconnect(
    const std::vector<absl::StatusOr<herald::v1::SubscribeResult>>& results);

}  // namespace herald
