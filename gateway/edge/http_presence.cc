// GET /v1/presence.
#include "edge/http_presence.h"

#include <algorithm>

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

bool PresenceReads::Take(const std::string& reader) {
  absl::MutexLock lock(&mutex_);
  int& mine = by_reader_[reader];
  if (in_flight_ >= kMostInFlight || mine >= kMostInFlightPerReader) {
    if (mine == 0) by_reader_.erase(reader);
    return false;
  }
  ++in_flight_;
  ++mine;
  return true;
}

void PresenceReads::GiveBack(const std::string& reader) {
  absl::MutexLock lock(&mutex_);
  --in_flight_;
  if (--by_reader_[reader] == 0) by_reader_.erase(reader);
}

void PresenceReads::Answer(const std::string& topic, uint32_t limit, const std::string& reader,
                           std::function<void(HttpAnswer)> done) {
  if (!Take(reader)) {
    absl::Status busy = absl::ResourceExhaustedError(
        "too many presence reads are being answered, for this credential or in all; retry "
        "shortly");
    done({HttpStatusFor(busy), ErrorJson(busy)});
    return;
  }
  cluster_.Presence(topic, limit, kWait,
                    [this, topic, reader, done = std::move(done)](
                        herald::v1::PresenceResponse presence) {
                      GiveBack(reader);
                      // Even this node's answer comes through the engine: without it, an
                      // empty room would be a guess.
                      const auto& unanswered = presence.unanswered_nodes();
                      if (std::find(unanswered.begin(), unanswered.end(), cluster_.node()) !=
                          unanswered.end()) {
                        absl::Status down = absl::UnavailableError(
                            "presence is unavailable: the engine does not answer; retry shortly");
                        done({HttpStatusFor(down), ErrorJson(down)});
                        return;
                      }
                      done({200, PresenceJson(topic, presence)});
                    });
}

}  // namespace herald
