// The registry of clients.
#include "client/client_registry.h"

#include "client/client.h"
#include "loop_check.h"

namespace herald {

ClientRegistry::ClientRegistry(std::vector<HubLoop> loops) {
  for (HubLoop& loop : loops) {
    shards_.push_back(std::make_unique<Shard>(Shard{std::move(loop), {}}));
  }
}

void ClientRegistry::Add(size_t shard, Client* client) {
  HERALD_ASSERT_THREAD(shards_[shard]->loop.runs_here());
  if (shards_[shard]->clients.insert(client).second) count_.fetch_add(1, std::memory_order_relaxed);
}

void ClientRegistry::Remove(size_t shard, Client* client) {
  HERALD_ASSERT_THREAD(shards_[shard]->loop.runs_here());
  if (shards_[shard]->clients.erase(client) > 0) count_.fetch_sub(1, std::memory_order_relaxed);
}

void ClientRegistry::ForEach(std::function<void(Client&)> action, std::function<void()> done) {
  auto loops_left = std::make_shared<std::atomic<size_t>>(shards_.size());
  for (const std::unique_ptr<Shard>& shard : shards_) {
    shard->loop.post([shard = shard.get(), action, done, loops_left] {
      // Held while acting: an action that disconnects a client may end it, which removes it
      // from the set being walked.
      std::vector<std::shared_ptr<Client>> clients;
      clients.reserve(shard->clients.size());
      for (Client* client : shard->clients) clients.push_back(client->shared_from_this());
      for (const std::shared_ptr<Client>& client : clients) action(*client);
      if (loops_left->fetch_sub(1, std::memory_order_acq_rel) == 1 && done) done();
    });
  }
}

}  // namespace herald
