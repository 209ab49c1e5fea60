// Admin calls across nodes, over ephemeral events of the engine.
#include "admin/cluster_admin.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "loop_check.h"
#include "random_id.h"
#include "topic/topic.h"

namespace herald {
namespace {

// Internal topics (topic/topic.h: IsInternalTopic): no client can follow or publish to them.
constexpr char kTopicPrefix[] = "#admin.";
static_assert(kTopicPrefix[0] == kInternalTopicMark);

constexpr std::pair<AdminCall, const char*> kCallNames[] = {
    {AdminCall::kInfo, "info"},
    {AdminCall::kTopics, "topics"},
    {AdminCall::kPresence, "presence"},
    {AdminCall::kConnections, "connections"},
    {AdminCall::kDisconnect, "disconnect"},
    {AdminCall::kUnsubscribe, "unsubscribe"},
};

const char* CallName(AdminCall call) {
  for (const auto& [known, name] : kCallNames) {
    if (known == call) return name;
  }
  return "";
}

std::optional<AdminCall> CallNamed(const std::string& name) {
  for (const auto& [call, known] : kCallNames) {
    if (name == known) return call;
  }
  return std::nullopt;
}

// Parses `request` as a `Request`, runs `method` of `node_admin` with it and hands `done` the
// serialized answer (an empty one for a request that does not parse).
template <typename Request, typename Response>
void Run(NodeAdmin& node_admin,
         void (NodeAdmin::*method)(const Request&, std::function<void(Response)>),
         const std::string& request, std::function<void(std::string)> done) {
  Request parsed;
  if (!parsed.ParseFromString(request)) {
    done(Response().SerializeAsString());
    return;
  }
  (node_admin.*method)(parsed, [done = std::move(done)](Response response) {
    done(response.SerializeAsString());
  });
}

std::string Meta(const herald::v1::Event& event, const std::string& key) {
  auto it = event.meta().find(key);
  return it == event.meta().end() ? "" : it->second;
}

}  // namespace

ClusterAdmin::ClusterAdmin(std::string node, Hub& hub, size_t shard, boost::asio::io_context& loop,
                           Engine& engine, NodeAdmin& node_admin)
    : node_(std::move(node)),
      hub_(hub),
      shard_(shard),
      loop_(loop),
      engine_(engine),
      node_admin_(node_admin),
      requests_topic_(absl::StrCat(kTopicPrefix, "requests")),
      replies_topic_(absl::StrCat(kTopicPrefix, "replies.", node_)),
      nodes_topic_(absl::StrCat(kTopicPrefix, "nodes")),
      heartbeat_(loop) {}

ClusterAdmin::~ClusterAdmin() = default;

void ClusterAdmin::Start() { boost::asio::post(loop_, [this] { Follow(); }); }

void ClusterAdmin::Follow() {
  std::vector<TopicRequest> topics = {{requests_topic_, std::nullopt},
                                      {replies_topic_, std::nullopt},
                                      {nodes_topic_, std::nullopt}};
  hub_.Subscribe(shard_, this, std::move(topics),
                 [this](std::vector<absl::StatusOr<SubscribedTopic>> results) {
                   if (stopped_) return;
                   bool all = std::all_of(results.begin(), results.end(),
                                          [](const auto& result) { return result.ok(); });
                   if (all) {
                     Announce();
                     return;
                   }
                   // The engine is not reachable yet (Redis down at start): the topics that
                   // failed are asked for again; this node announces itself once it hears.
                   heartbeat_.expires_after(absl::ToChronoMilliseconds(kHeartbeat));
                   heartbeat_.async_wait([this](const boost::system::error_code& error) {
                     if (!error && !stopped_) Follow();
                   });
                 });
}

void ClusterAdmin::Stop() {
  HERALD_ASSERT_ON_LOOP(loop_);
  stopped_ = true;
  heartbeat_.cancel();
  hub_.Detach(shard_, this);
  // Calls in flight are answered with what came.
  std::vector<std::string> ids;
  for (const auto& [id, pending] : pending_) ids.push_back(id);
  for (const std::string& id : ids) Finish(id);
}

void ClusterAdmin::Announce() {
  absl::Time now = absl::Now();
  std::erase_if(heard_from_, [now](const auto& entry) { return now - entry.second > kKnownFor; });
  Publish(nodes_topic_, AdminCall::kInfo, {{"node", node_}}, "");
  heartbeat_.expires_after(absl::ToChronoMilliseconds(kHeartbeat));
  heartbeat_.async_wait([this](const boost::system::error_code& error) {
    if (!error && !stopped_) Announce();
  });
}

void ClusterAdmin::Publish(const std::string& topic, AdminCall call,
                           std::map<std::string, std::string> meta, std::string data) {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_type(CallName(call));
  request.set_ephemeral(true);
  request.set_data(std::move(data));
  for (auto& [key, value] : meta) (*request.mutable_meta())[key] = std::move(value);
  // A lost announcement or answer only makes the asker wait for its deadline.
  engine_.Publish(request, credential_, [](absl::StatusOr<TopicPosition>) {});
}

void ClusterAdmin::Ask(AdminCall call, std::string request, absl::Duration wait,
                       std::function<void(Answers)> done) {
  boost::asio::post(loop_, [this, call, request = std::move(request), wait,
                            done = std::move(done)]() mutable {
    std::string id = RandomId(8);
    Pending& pending = pending_[id];
    pending.expected = KnownNodes();
    pending.done = std::move(done);
    pending.deadline = std::make_unique<boost::asio::steady_timer>(loop_);
    pending.deadline->expires_after(absl::ToChronoMilliseconds(wait));
    pending.deadline->async_wait([this, id](const boost::system::error_code& error) {
      if (!error) Finish(id);
    });
    if (stopped_) {
      Finish(id);
      return;
    }
    Publish(requests_topic_, call, {{"id", id}, {"from", node_}}, std::move(request));
  });
}

void ClusterAdmin::Presence(const std::string& topic, uint32_t limit, absl::Duration wait,
                            std::function<void(herald::v1::PresenceResponse)> done) {
  herald::v1::PresenceRequest request;
  request.set_topic(topic);
  request.set_limit(ClientsListed(limit));
  Ask(AdminCall::kPresence, request.SerializeAsString(), wait,
      [limit = request.limit(), done = std::move(done)](Answers answers) {
        herald::v1::PresenceResponse merged;
        for (const std::string& bytes : answers.responses) {
          herald::v1::PresenceResponse node;
          if (!node.ParseFromString(bytes)) continue;
          merged.set_count(merged.count() + node.count());
          for (herald::v1::ClientInfo& client : *node.mutable_clients()) {
            if (static_cast<uint32_t>(merged.clients_size()) == limit) break;
            *merged.add_clients() = std::move(client);
          }
        }
        for (std::string& node : answers.unanswered_nodes) {
          merged.add_unanswered_nodes(std::move(node));
        }
        done(std::move(merged));
      });
}

void ClusterAdmin::Enqueue(const std::shared_ptr<const EncodedEvent>& encoded, Delivery) {
  HERALD_ASSERT_ON_LOOP(loop_);
  if (stopped_) return;
  const herald::v1::Event& event = encoded->event();
  if (event.topic() == nodes_topic_) {
    std::string node = Meta(event, "node");
    bool new_node = !heard_from_.contains(node);
    heard_from_[node] = absl::Now();
    // A node that just started learns of this one at once, not at its next heartbeat.
    if (new_node && node != node_) Publish(nodes_topic_, AdminCall::kInfo, {{"node", node_}}, "");
    return;
  }
  std::optional<AdminCall> call = CallNamed(event.type());
  if (!call) return;
  if (event.topic() == requests_topic_) {
    AnswerRequest(*call, Meta(event, "id"), Meta(event, "from"), event.data());
  } else if (event.topic() == replies_topic_) {
    OnAnswer(Meta(event, "id"), Meta(event, "node"), event.data());
  }
}

void ClusterAdmin::AnswerRequest(AdminCall call, const std::string& id, const std::string& from,
                                 const std::string& request) {
  auto reply = [this, call, id, from](std::string response) {
    boost::asio::post(loop_, [this, call, id, from, response = std::move(response)]() mutable {
      if (stopped_) return;
      Publish(absl::StrCat(kTopicPrefix, "replies.", from), call, {{"id", id}, {"node", node_}},
              std::move(response));
    });
  };
  switch (call) {
    case AdminCall::kInfo:
      Run(node_admin_, &NodeAdmin::Info, request, std::move(reply));
      return;
    case AdminCall::kTopics:
      Run(node_admin_, &NodeAdmin::Topics, request, std::move(reply));
      return;
    case AdminCall::kPresence:
      Run(node_admin_, &NodeAdmin::Presence, request, std::move(reply));
      return;
    case AdminCall::kConnections:
      Run(node_admin_, &NodeAdmin::Connections, request, std::move(reply));
      return;
    case AdminCall::kDisconnect:
      Run(node_admin_, &NodeAdmin::Disconnect, request, std::move(reply));
      return;
    case AdminCall::kUnsubscribe:
      Run(node_admin_, &NodeAdmin::Unsubscribe, request, std::move(reply));
      return;
  }
}

void ClusterAdmin::OnAnswer(const std::string& id, const std::string& node, std::string response) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // Finished already (its deadline passed).
  Pending& pending = it->second;
  pending.answers[node] = std::move(response);
  heard_from_[node] = absl::Now();
  bool all = std::all_of(pending.expected.begin(), pending.expected.end(),
                         [&](const std::string& known) { return pending.answers.contains(known); });
  if (all) Finish(id);
}

void ClusterAdmin::Finish(const std::string& id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  pending.deadline->cancel();
  Answers answers;
  // This node's answer first, then the others by name.
  if (auto own = pending.answers.find(node_); own != pending.answers.end()) {
    answers.responses.push_back(std::move(own->second));
  }
  for (auto& [node, response] : pending.answers) {
    if (node != node_) answers.responses.push_back(std::move(response));
  }
  for (const std::string& node : pending.expected) {
    if (!pending.answers.contains(node)) answers.unanswered_nodes.push_back(node);
  }
  pending.done(std::move(answers));
}

std::vector<std::string> ClusterAdmin::KnownNodes() const {
  std::vector<std::string> known = {node_};
  absl::Time now = absl::Now();
  for (const auto& [node, heard] : heard_from_) {
    if (node != node_ && now - heard <= kKnownFor) known.push_back(node);
  }
  return known;
}

}  // namespace herald
