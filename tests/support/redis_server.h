// RedisServer: a real redis-server for a test, on a free loopback port, writing nothing to disk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/gateway_process.h"

namespace herald::testing {

class RedisServer {
 public:
  // Starts redis-server on a free port (or `port`), and waits until it accepts connections.
  // Null on failure, with the reason in *error when given.
  static std::unique_ptr<RedisServer> Start(std::string* error = nullptr, uint16_t port = 0,
                                            std::vector<std::string> extra_args = {});

  uint16_t port() const { return port_; }
  // "redis://127.0.0.1:PORT", for --broker.
  std::string url() const;

  // SIGKILL: every connection drops at once, and the data is gone.
  void Kill();
  // Starts it again on the same port, empty; false when it does not come up.
  bool Restart();
  // SIGSTOP / SIGCONT: a server that holds its connections and answers nothing meanwhile.
  void Freeze();
  void Thaw();
  bool running() const { return process_ && process_->Running(); }

  // Runs `redis-cli -p PORT args...`; its output (stdout), trailing newline removed.
  std::string Cli(const std::vector<std::string>& args) const;

  // Starts a replica of this server (which then writes nothing until the replica has every
  // write: see ReplicaHasEverything). Null on failure.
  std::unique_ptr<RedisServer> StartReplica(std::string* error = nullptr);
  // This master streams to its one replica, and the replica confirmed every write so far.
  bool ReplicaHasEverything() const;
  // Fails over to `replica` as a cloud Redis endpoint or a proxy does: this server dies, the
  // replica becomes a master and takes this server's port (where the Cli() of both now
  // reaches it).
  bool FailOverTo(RedisServer& replica);

 private:
  RedisServer() = default;
  bool Spawn(std::string* error);

  uint16_t port_ = 0;
  std::vector<std::string> extra_args_;
  std::unique_ptr<GatewayProcess> process_;
};

// A Redis Cluster of `masters` redis-server processes (no replicas), made with
// `redis-cli --cluster create`, its files in a temporary directory.
class RedisCluster {
 public:
  static std::unique_ptr<RedisCluster> Start(size_t masters, std::string* error = nullptr);
  ~RedisCluster();

  // "redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...", for --broker.
  std::string url() const;
  size_t size() const { return nodes_.size(); }
  RedisServer& node(size_t index) { return *nodes_[index]; }
  // The node that owns `slot`, by CLUSTER SLOTS.
  RedisServer* OwnerOf(uint16_t slot);
  // The cluster node id of `node`.
  std::string IdOf(RedisServer& node) const;

 private:
  RedisCluster() = default;
  std::string directory_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

// A free TCP port on 127.0.0.1 (free when asked: bound, read and released).
uint16_t FreeLoopbackPort();

}  // namespace herald::testing
