// Admin calls across nodes. A call goes to every node as an ephemeral event on an internal topic
// of the engine, so it reaches every node that shares the engine (Redis: the whole cluster; the
// memory engine: this node), and each node answers on the asker's own reply topic. Nodes
// announce themselves on a third topic every 2 s (and at once to a node they hear of for the
// first time): a node heard from within the last 6 s that does not answer in time is named, not
// silently left out.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "admin/node_admin.h"
#include "engine/engine.h"
#include "hub/hub.h"
#include "hub/subscriber.h"

namespace herald {

// Which call a request is, on the wire between nodes (the event's `type`).
enum class AdminCall { kInfo, kTopics, kPresence, kConnections, kDisconnect, kUnsubscribe };

class ClusterAdmin final : public Subscriber {
 public:
  // How often a node announces itself, and how long it counts as known after.
  static constexpr absl::Duration kHeartbeat = absl::Seconds(2);
  static constexpr absl::Duration kKnownFor = absl::Seconds(6);

  // Every node's answer that arrived (serialized responses of the call), and the nodes known
  // that did not answer in time.
  struct Answers {
    std::vector<std::string> responses;
    std::vector<std::string> unanswered_nodes;
  };

  // Lives on `shard`'s loop (`loop`) of `hub`; all must outlive it.
  ClusterAdmin(std::string node, Hub& hub, size_t shard, boost::asio::io_context& loop,
               Engine& engine, NodeAdmin& node_admin);
  ~ClusterAdmin() override;

  // This node's name.
  const std::string& node() const { return node_; }

  // Follows the internal topics and starts announcing this node (posted to the loop).
  void Start();
  // Stops announcing and detaches from the hub; on the loop, before the loop stops.
  void Stop();

  // Any thread: asks every node (this one too) and calls `done` once, on the loop, when all
  // known nodes answered or `wait` passed.
  void Ask(AdminCall call, std::string request, absl::Duration wait,
           std::function<void(Answers)> done);
  // Any thread: who follows `topic` on every node, merged (the first `limit` listed, see
  // ClientsListed; the count of all), with the nodes that did not answer; `done` on the loop.
  // For Admin.Presence and GET /v1/presence alike.
  void Presence(const std::string& topic, uint32_t limit, absl::Duration wait,
                std::function<void(herald::v1::PresenceResponse)> done);

  // Subscriber (the hub, on the loop):
  void Enqueue(const std::shared_ptr<const EncodedEvent>& event, Delivery delivery) override;
  size_t ReplayCost(const EncodedEvent&) const override { return 0; }
  size_t ReplayRoom() const override { return 0; }
  void Flush() override {}
  // The engine lost events of a topic (Redis failed over): the calls in flight time out.
  void Close(const herald::Disconnect&) override {}
  const std::string& credential() const override { return credential_; }

 private:
  struct Pending {
    std::vector<std::string> expected;  // Known nodes when asked.
    std::map<std::string, std::string> answers;  // By node.
    std::function<void(Answers)> done;
    std::unique_ptr<boost::asio::steady_timer> deadline;
  };

  // Follows the three internal topics, again after a failure, then starts announcing.
  void Follow();
  void Announce();
  void Publish(const std::string& topic, AdminCall call, std::map<std::string, std::string> meta,
               std::string data);
  // A request from `from`: this node's part, sent back on its reply topic.
  void AnswerRequest(AdminCall call, const std::string& id, const std::string& from,
                     const std::string& request);
  void OnAnswer(const std::string& id, const std::string& node, std::string response);
  void Finish(const std::string& id);
  std::vector<std::string> KnownNodes() const;

  const std::string node_;
  Hub& hub_;
  const size_t shard_;
  boost::asio::io_context& loop_;
  Engine& engine_;
  NodeAdmin& node_admin_;
  const std::string credential_;  // Empty: the node itself, counted in no share.
  const std::string requests_topic_;
  const std::string replies_topic_;  // This node's.
  const std::string nodes_topic_;
  boost::asio::steady_timer heartbeat_;
  bool stopped_ = false;
  // On the loop only.
  std::map<std::string, absl::Time> heard_from_;  // Node -> last announcement.
  std::map<std::string, Pending> pending_;        // By request id.
};

}  // namespace herald
