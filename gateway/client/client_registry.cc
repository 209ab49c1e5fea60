// The registry of clients.
#include "client/client_registry.h"

#include "client/client.h"
#include "loop_check.h"

namespace herald {

ClientRegistry::ClientRegistry(std::vector<HubLoop> loops) {
  for (HubLoop& loop : loops) {
    shards_.push_back(std::make_unique<Shard>(Shard{std::move(loop), {}, {}}));
  }
}

void ClientRegistry::Add(size_t shard, Client* client) {
  HERALD_ASSERT_THREAD(shards_[shard]->loop.runs_here());
  if (shards_[shard]->clients.insert(client).second) count_.fetch_add(1, std::memory_order_relaxed);
}

void ClientRegistry::Remove(size_t shard, Client* client) {
  HERALD_ASSERT_THREAD(shards_[shard]->loop.runs_here());
  if (shards_[shard]->clients.erase(client) == 0) return;
  count_.fetch_sub(1, std::memory_order_relaxed);
  for (const std::string& topic : client->topics()) Unfollow(shard, topic, client);
}

void ClientRegistry::Follow(size_t shard, const std::string& topic, Client* client) {
  HERALD_ASSERT_THREAD(shards_[shard]->loop.runs_here());
  // A client that ended (removed) is no longer found, whatever it still names.
  if (shards_[shard]->clients.contains(client)) shards_[shard]->followers[topic].insert(client);
}

void ClientRegistry::Unfollow(size_t shard, const std::string& topic, Client* client) {
  HERALD_ASSERT_THREAD(shards_[shard]->loop.runs_here());
  auto& followers = shards_[shard]->followers;
  auto it = followers.find(topic);
  if (it == followers.end()) return;
  it->second.erase(client);
  if (it->second.empty()) followers.erase(it);
}

void ClientRegistry::ForEach(std::function<void(Client&)> action, std::function<void()> done) {
  Visit([](const Shard& shard) { return std::vector<Client*>(shard.clients.begin(), shard.clients.end()); },
        std::move(action), std::move(done));
}

void ClientRegistry::ForEachFollower(const std::string& topic, std::function<void(Client&)> action,
                                     std::function<void()> done) {
  Visit(
      [topic](const Shard& shard) {
        auto it = shard.followers.find(topic);
        if (it == shard.followers.end()) return std::vector<Client*>();
        return std::vector<Client*>(it->second.begin(), it->second.end());
      },
      std::move(action), std::move(done));
}

void ClientRegistry::Visit(std::function<std::vector<Client*>(const Shard&)> pick,
                           std::function<void(Client&)> action, std::function<void()> done) {
  auto loops_left = std::make_shared<std::atomic<size_t>>(shards_.size());
  for (const std::unique_ptr<Shard>& shard : shards_) {
    shard->loop.post([shard = shard.get(), pick, action, done, loops_left] {
      // Held while acting: an action that disconnects a client may end it, which removes it
      // from the set being walked.
      std::vector<std::shared_ptr<Client>> clients;
      for (Client* client : pick(*shard)) clients.push_back(client->shared_from_this());
      for (const std::shared_ptr<Client>& client : clients) action(*client);
      if (loops_left->fetch_sub(1, std::memory_order_acq_rel) == 1 && done) done();
    });
  }
}

}  // namespace herald
