// RedisServer: redis-server as a child process, through GatewayProcess' process control.
#include "support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace herald::testing {

uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

std::unique_ptr<RedisServer> RedisServer::Start(std::string* error, uint16_t port,
                                                std::vector<std::string> extra_args) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->extra_args_ = std::move(extra_args);
  // A free port may be taken by another process before redis-server binds it: a few tries.
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = port != 0 ? port : FreeLoopbackPort();
    if (server->Spawn(error)) return server;
    if (port != 0) break;
  }
  return nullptr;
}

bool RedisServer::Spawn(std::string* error) {
  GatewayOptions options;
  options.binary = "/usr/bin/redis-server";
  options.default_listen_args = false;
  options.wait_for_listening = false;
  options.log_prefix = "[redis " + std::to_string(port_) + "] ";
  // Nothing is written to disk: a replica loads its master's data straight from the socket
  // (an RDB file left in the working directory would be loaded by the next server started).
  options.args = {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--repl-diskless-load", "swapdb", "--daemonize", "no",
                  "--logfile", ""};
  options.args.insert(options.args.end(), extra_args_.begin(), extra_args_.end());
  process_ = GatewayProcess::StartWithOptions(options, error);
  if (!process_) return false;
  if (!process_->WaitForLogLine("Ready to accept connections", std::chrono::seconds(10))) {
    *error = "redis-server on port " + std::to_string(port_) + " did not become ready";
    process_.reset();
    return false;
  }
  return true;
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void RedisServer::Kill() {
  if (!process_) return;
  process_->SendSignal(SIGKILL);
  process_->WaitForExit(std::chrono::seconds(10));
}

void RedisServer::Freeze() {
  if (process_) process_->SendSignal(SIGSTOP);
}

void RedisServer::Thaw() {
  if (process_) process_->SendSignal(SIGCONT);
}

bool RedisServer::Restart() {
  Kill();
  process_.reset();
  std::string error;
  // The port may linger in TIME_WAIT from the killed server's connections; redis-server sets
  // SO_REUSEADDR, so it binds at once.
  return Spawn(&error);
}

std::string RedisServer::Cli(const std::vector<std::string>& args) const {
  std::string command = "redis-cli -p " + std::to_string(port_);
  for (const std::string& arg : args) command += " '" + arg + "'";
  std::string output;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    std::array<char, 4096> buffer;
    size_t read;
    while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
      output.append(buffer.data(), read);
    }
    ::pclose(pipe);
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

std::unique_ptr<RedisServer> RedisServer::StartReplica(std::string* error) {
  // The replica's full sync starts at once, not after Redis' default 5 s wait for others.
  Cli({"CONFIG", "SET", "repl-diskless-sync-delay", "0"});
  std::unique_ptr<RedisServer> replica =
      Start(error, 0, {"--replicaof", "127.0.0.1", std::to_string(port_)});
  if (!replica) return nullptr;
  // A master streams to a new replica once it hears from it (each second), so a write made
  // and confirmed tells that the replica is following.
  Cli({"SET", "herald-test:replicated", "1"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!ReplicaHasEverything()) {
    if (std::chrono::steady_clock::now() > deadline) {
      if (error) *error = "the replica did not catch up";
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return replica;
}

bool RedisServer::ReplicaHasEverything() const {
  std::string info = Cli({"INFO", "replication"});
  std::string offset, replica;
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (absl::ConsumePrefix(&line, "master_repl_offset:")) offset = std::string(line);
    if (absl::ConsumePrefix(&line, "slave0:")) replica = std::string(line);
  }
  return !offset.empty() && offset != "0" && absl::StrContains(replica, "state=online") &&
         absl::StrContains(replica, absl::StrCat("offset=", offset, ","));
}

bool RedisServer::FailOverTo(RedisServer& replica) {
  Kill();
  if (replica.Cli({"REPLICAOF", "NO", "ONE"}) != "OK") return false;
  if (replica.Cli({"CONFIG", "SET", "port", std::to_string(port_)}) != "OK") return false;
  replica.port_ = port_;
  return true;
}

}  // namespace herald::testing

namespace herald::testing {

std::unique_ptr<RedisCluster> RedisCluster::Start(size_t masters, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  std::unique_ptr<RedisCluster> cluster(new RedisCluster());
  char directory[] = "/tmp/herald-redis-cluster-XXXXXX";
  if (::mkdtemp(directory) == nullptr) {
    *error = "mkdtemp failed";
    return nullptr;
  }
  cluster->directory_ = directory;
  std::string create = "redis-cli --cluster create";
  for (size_t i = 0; i < masters; ++i) {
    // The cluster bus gets a free port of its own (by default it is the port + 10000). Either
    // port may be taken by another process before redis-server binds it: a few tries.
    std::unique_ptr<RedisServer> node;
    for (int attempt = 0; attempt < 5 && !node; ++attempt) {
      uint16_t port = FreeLoopbackPort();
      node = RedisServer::Start(
          error, port,
          {"--cluster-enabled", "yes", "--cluster-port", std::to_string(FreeLoopbackPort()),
           "--dir", cluster->directory_, "--cluster-config-file",
           "nodes-" + std::to_string(port) + ".conf", "--cluster-node-timeout", "5000"});
    }
    if (!node) return nullptr;
    create += " 127.0.0.1:" + std::to_string(node->port());
    cluster->nodes_.push_back(std::move(node));
  }
  create += " --cluster-replicas 0 --cluster-yes > " + cluster->directory_ + "/create.log 2>&1";
  if (std::system(create.c_str()) != 0) {
    *error = "redis-cli --cluster create failed; see " + cluster->directory_ + "/create.log";
    return nullptr;
  }
  // Every node must agree the cluster is up before it serves.
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);;) {
    bool ok = true;
    for (const std::unique_ptr<RedisServer>& node : cluster->nodes_) {
      ok = ok && node->Cli({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
    }
    if (ok) break;
    if (std::chrono::steady_clock::now() > deadline) {
      *error = "the cluster did not reach cluster_state:ok";
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cluster;
}

RedisCluster::~RedisCluster() {
  nodes_.clear();
  if (!directory_.empty()) std::filesystem::remove_all(directory_);
}

std::string RedisCluster::url() const {
  std::string url = "redis+cluster://";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (i > 0) url += ",";
    url += "127.0.0.1:" + std::to_string(nodes_[i]->port());
  }
  return url;
}

std::string RedisCluster::IdOf(RedisServer& node) const {
  return node.Cli({"CLUSTER", "MYID"});
}

RedisServer* RedisCluster::OwnerOf(uint16_t slot) {
  // One line per field of CLUSTER SLOTS: start, end, host, port, id, ... per range.
  std::string slots = nodes_.front()->Cli({"CLUSTER", "SLOTS"});
  std::vector<std::string> lines;
  for (size_t start = 0; start <= slots.size();) {
    size_t end = slots.find('\n', start);
    if (end == std::string::npos) end = slots.size();
    lines.push_back(slots.substr(start, end - start));
    start = end + 1;
  }
  for (size_t i = 0; i + 3 < lines.size(); ++i) {
    char* rest = nullptr;
    unsigned long first = std::strtoul(lines[i].c_str(), &rest, 10);
    if (rest == lines[i].c_str() || *rest != '\0') continue;
    unsigned long last = std::strtoul(lines[i + 1].c_str(), &rest, 10);
    if (*rest != '\0' || lines[i + 2] != "127.0.0.1") continue;
    unsigned long port = std::strtoul(lines[i + 3].c_str(), &rest, 10);
    if (slot < first || slot > last) continue;
    for (const std::unique_ptr<RedisServer>& node : nodes_) {
      if (node->port() == port) return node.get();
    }
  }
  return nullptr;
}

}  // namespace herald::testing
