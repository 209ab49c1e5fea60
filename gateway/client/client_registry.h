// Every client of the gateway, whatever its transport and whether it follows topics: the one
// place server-side operations (revoke a credential, disconnect a user) find them.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "hub/hub_loop.h"

namespace herald {

class Client;

// Clients are kept per shard; shard i's set is touched on loop i only, so adding and removing
// (once per connection) take no lock.
class ClientRegistry {
 public:
  explicit ClientRegistry(std::vector<HubLoop> loops);
  ClientRegistry(const ClientRegistry&) = delete;
  ClientRegistry& operator=(const ClientRegistry&) = delete;

  // On shard `shard`'s loop. Remove also takes the client off the topics it follows.
  void Add(size_t shard, Client* client);
  void Remove(size_t shard, Client* client);
  // On shard `shard`'s loop: a registered client starts or stops following `topic`.
  void Follow(size_t shard, const std::string& topic, Client* client);
  void Unfollow(size_t shard, const std::string& topic, Client* client);

  // Calls `action` with every client, each on its own loop (one task per loop, run later). An
  // action may disconnect the client it is given. Then, when given, `done` runs once, after
  // every loop has acted (on the last one's thread).
  void ForEach(std::function<void(Client&)> action, std::function<void()> done = nullptr);
  // The same, over the clients that follow `topic` only (a visit costs its followers, not every
  // client of the node).
  void ForEachFollower(const std::string& topic, std::function<void(Client&)> action,
                       std::function<void()> done = nullptr);

  // Clients in all (any thread).
  size_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  struct Shard {
    HubLoop loop;
    absl::flat_hash_set<Client*> clients;
    absl::flat_hash_map<std::string, absl::flat_hash_set<Client*>> followers;  // By topic.
  };

  // Calls `action` on each loop with the clients `pick` chooses from its shard, then `done`.
  void Visit(std::function<std::vector<Client*>(const Shard&)> pick,
             std::function<void(Client&)> action, std::function<void()> done);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> count_{0};
};

}  // namespace herald
