// One node's part of the Admin calls.
#include "admin/node_admin.h"

#include <map>
#include <set>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "auth/topic_pattern.h"
#include "client/client.h"

namespace herald {
namespace {

// What every loop's visit adds to, for one call (loops visit their clients concurrently).
template <typename Response>
struct Gathered {
  absl::Mutex mutex;
  Response response ABSL_GUARDED_BY(mutex);
};

// The client named by a request's `user` or `client_id` (both empty: every client).
bool Named(const Client& client, const std::string& user, const std::string& client_id) {
  if (!client_id.empty() && client.id() != client_id) return false;
  return user.empty() || client.grant().subject == user;
}

}  // namespace

NodeAdmin::NodeAdmin(std::string node, ClientRegistry& registry)
    : node_(std::move(node)), registry_(registry), started_(absl::Now()) {}

void NodeAdmin::Info(const herald::v1::InfoRequest&,
                     std::function<void(herald::v1::InfoResponse)> done) {
  struct Topics {
    absl::Mutex mutex;
    std::set<std::string> names ABSL_GUARDED_BY(mutex);
  };
  auto topics = std::make_shared<Topics>();
  registry_.ForEach(
      [topics](Client& client) {
        absl::MutexLock lock(&topics->mutex);
        topics->names.insert(client.topics().begin(), client.topics().end());
      },
      [this, topics, done = std::move(done)] {
        herald::v1::InfoResponse response;
        herald::v1::NodeInfo* info = response.add_nodes();
        info->set_node(node_);
        info->set_connections(registry_.count());
        absl::MutexLock lock(&topics->mutex);
        info->set_topics(topics->names.size());
        info->set_uptime_seconds(
            static_cast<uint64_t>(absl::ToInt64Seconds(absl::Now() - started_)));
        info->set_version(HERALD_VERSION);
        done(std::move(response));
      });
}

void NodeAdmin::Topics(const herald::v1::TopicsRequest& request,
                       std::function<void(herald::v1::TopicsResponse)> done) {
  struct Counts {
    absl::Mutex mutex;
    std::map<std::string, uint64_t> subscribers ABSL_GUARDED_BY(mutex);
  };
  auto counts = std::make_shared<Counts>();
  registry_.ForEach(
      [counts, pattern = request.pattern()](Client& client) {
        for (const std::string& topic : client.topics()) {
          if (!pattern.empty() && !TopicPatternMatches(pattern, topic)) continue;
          absl::MutexLock lock(&counts->mutex);
          ++counts->subscribers[topic];
        }
      },
      [counts, done = std::move(done)] {
        herald::v1::TopicsResponse response;
        absl::MutexLock lock(&counts->mutex);
        for (const auto& [topic, subscribers] : counts->subscribers) {
          herald::v1::TopicInfo* info = response.add_topics();
          info->set_topic(topic);
          info->set_subscribers(subscribers);
        }
        response.set_total(counts->subscribers.size());
        done(std::move(response));
      });
}

namespace {

herald::v1::ClientInfo Describe(const Client& client, const std::string& node, bool details) {
  herald::v1::ClientInfo info;
  info.set_client_id(client.id());
  info.set_user(client.grant().subject);
  info.set_node(node);
  info.set_transport(TransportName(client.transport_kind()));
  info.set_connected_unix_ms(static_cast<uint64_t>(absl::ToUnixMillis(client.connected_at())));
  if (details) {
    for (const std::string& topic : client.topics()) info.add_topics(topic);
    info.set_remote_address(client.remote_address());
  }
  return info;
}

}  // namespace

void NodeAdmin::Presence(const herald::v1::PresenceRequest& request,
                         std::function<void(herald::v1::PresenceResponse)> done) {
  auto gathered = std::make_shared<Gathered<herald::v1::PresenceResponse>>();
  registry_.ForEachFollower(
      request.topic(), [this, gathered, limit = request.limit()](Client& client) {
        absl::MutexLock lock(&gathered->mutex);
        herald::v1::PresenceResponse& response = gathered->response;
        response.set_count(response.count() + 1);
        if (static_cast<uint32_t>(response.clients_size()) < limit) {
          *response.add_clients() = Describe(client, node_, /*details=*/false);
        }
      },
      [gathered, done = std::move(done)] {
        absl::MutexLock lock(&gathered->mutex);
        done(std::move(gathered->response));
      });
}

void NodeAdmin::Connections(const herald::v1::ConnectionsRequest& request,
                            std::function<void(herald::v1::ConnectionsResponse)> done) {
  auto gathered = std::make_shared<Gathered<herald::v1::ConnectionsResponse>>();
  registry_.ForEach(
      [this, gathered, request](Client& client) {
        if (!Named(client, request.user(), request.client_id())) return;
        absl::MutexLock lock(&gathered->mutex);
        herald::v1::ConnectionsResponse& response = gathered->response;
        response.set_count(response.count() + 1);
        if (static_cast<uint32_t>(response.clients_size()) < request.limit()) {
          *response.add_clients() = Describe(client, node_, /*details=*/true);
        }
      },
      [gathered, done = std::move(done)] {
        absl::MutexLock lock(&gathered->mutex);
        done(std::move(gathered->response));
      });
}

void NodeAdmin::Disconnect(const herald::v1::DisconnectRequest& request,
                           std::function<void(herald::v1::DisconnectResponse)> done) {
  auto gathered = std::make_shared<Gathered<herald::v1::DisconnectResponse>>();
  herald::Disconnect disconnect{static_cast<uint16_t>(request.code()), request.reason()};
  registry_.ForEach(
      [gathered, request, disconnect](Client& client) {
        if (!Named(client, request.user(), request.client_id())) return;
        client.Disconnect(disconnect);
        absl::MutexLock lock(&gathered->mutex);
        gathered->response.set_disconnected(gathered->response.disconnected() + 1);
      },
      [gathered, done = std::move(done)] {
        absl::MutexLock lock(&gathered->mutex);
        done(std::move(gathered->response));
      });
}

void NodeAdmin::Unsubscribe(const herald::v1::UnsubscribeRequest& request,
                            std::function<void(herald::v1::UnsubscribeResponse)> done) {
  auto gathered = std::make_shared<Gathered<herald::v1::UnsubscribeResponse>>();
  registry_.ForEach(
      [gathered, request](Client& client) {
        if (!Named(client, request.user(), request.client_id())) return;
        if (!client.Unsubscribe(request.topic())) return;
        absl::MutexLock lock(&gathered->mutex);
        gathered->response.set_unsubscribed(gathered->response.unsubscribed() + 1);
      },
      [gathered, done = std::move(done)] {
        absl::MutexLock lock(&gathered->mutex);
        done(std::move(gathered->response));
      });
}

}  // namespace herald
