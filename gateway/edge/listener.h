// Accepts HTTP connections and hands each to the next event loop, round robin.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "edge/edge_context.h"
#include "edge/event_loops.h"

namespace herald {

class Listener final : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens on host:port (port 0 picks one); the acceptor runs on loop 0.
  static absl::StatusOr<std::shared_ptr<Listener>> Bind(EventLoops& loops, EdgeContext& context,
                                                       const std::string& host, uint16_t port);

  uint16_t port() const { return port_; }
  void Start();
  // Any thread: stops accepting.
  void Stop();

 private:
  Listener(EventLoops& loops, EdgeContext& context);
  void Accept();
  // After a failed accept (often: out of file descriptors), waits before trying again rather
  // than spinning on a listening socket that stays readable.
  void AcceptLater();
  // A connection closed at once for --max_pending_connections: counted and logged now and then.
  void NotePendingRefused();

  EventLoops& loops_;
  EdgeContext& context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  uint16_t port_ = 0;
  size_t next_loop_ = 0;
  // Accept handlers run on the acceptor's loop only.
  size_t pending_refused_ = 0;
  std::chrono::steady_clock::time_point pending_refused_logged_{};
};

}  // namespace herald
