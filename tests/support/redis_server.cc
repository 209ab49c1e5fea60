// RedisServer: redis-server as a child process, through GatewayProcess' process control.
#include "support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>

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

std::unique_ptr<RedisServer> RedisServer::Start(std::string* error, uint16_t port) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  std::unique_ptr<RedisServer> server(new RedisServer());
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
  options.args = {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--daemonize", "no", "--logfile", ""};
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

}  // namespace herald::testing
