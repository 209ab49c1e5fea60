// GET /v1/presence.
#include "edge/http_presence.h"

#include <boost/json.hpp>

namespace herald {
namespace {

std::string PresenceJson(const std::string& topic, const herald::v1::PresenceResponse& presence) {
  boost::json::array clients;
  for (const herald::v1::ClientInfo& client : presence.clients()) {
    clients.push_back(boost::json::object{{"client_id", client.client_id()},
                                          {"user", client.user()},
                                          {"node", client.node()},
                                          {"transport", client.transport()},
                                          {"connected_unix_ms", client.connected_unix_ms()}});
  }
  boost::json::array unanswered;
  for (const std::string& node : presence.unanswered_nodes()) unanswered.push_back(node.c_str());
  return boost::json::serialize(boost::json::object{{"topic", topic},
                                                    {"count", presence.count()},
                                                    {"clients", std::move(clients)},
                                                    {"unanswered_nodes", std::move(unanswered)}});
}

}  // namespace

void PresenceReads::Answer(const std::string& topic, uint32_t limit,
                           std::function<void(HttpAnswer)> done) {
  if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= kMostInFlight) {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    absl::Status busy = absl::ResourceExhaustedError(
        "too many presence reads are being answered; retry shortly");
    done({HttpStatusFor(busy), ErrorJson(busy)});
    return;
  }
  cluster_.Presence(topic, limit, kWait,
                    [this, topic, done = std::move(done)](herald::v1::PresenceResponse presence) {
                      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
                      done({200, PresenceJson(topic, presence)});
                    });
}

}  // namespace herald
