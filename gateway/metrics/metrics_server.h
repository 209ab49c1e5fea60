// The operator endpoints (/metrics, /healthz, /readyz): on the HTTP port, or, with
// --metrics_listen, on an address of their own served by a thread of their own, so a scrape
// is answered however busy the event loops are.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace herald {

// An answer of an operator endpoint.
struct OperatorAnswer {
  unsigned status = 200;
  std::string body;
  std::string_view content_type = "text/plain";
};

// What the operator endpoints answer, wherever they are served. Any thread.
class OperatorEndpoints {
 public:
  // `render` writes the Prometheus text; `draining` and `engine_ready` decide /readyz.
  OperatorEndpoints(std::function<std::string()> render, const std::atomic<bool>& draining,
                    std::function<bool()> engine_ready)
      : render_(std::move(render)), draining_(draining), engine_ready_(std::move(engine_ready)) {}

  static bool Serves(std::string_view path) {
    return path == "/metrics" || path == "/healthz" || path == "/readyz";
  }
  // The answer to one of the paths Serves.
  OperatorAnswer Answer(std::string_view path) const;

 private:
  std::function<std::string()> render_;
  const std::atomic<bool>& draining_;
  std::function<bool()> engine_ready_;
};

// Serves OperatorEndpoints on its own address and thread. Keeps at most kMaxConnections at
// once (an operator's scrapers and probes, not the public); each request must arrive within
// kRequestTimeout.
class MetricsServer {
 public:
  static constexpr size_t kMaxConnections = 32;

  // Binds host:port (port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& host,
                                                              uint16_t port,
                                                              const OperatorEndpoints& endpoints);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  explicit MetricsServer(const OperatorEndpoints& endpoints) : endpoints_(endpoints) {}
  void Accept();

  const OperatorEndpoints& endpoints_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  boost::asio::steady_timer retry_{io_};  // An accept that failed is tried again.
  uint16_t port_ = 0;
  std::shared_ptr<std::atomic<size_t>> connections_ = std::make_shared<std::atomic<size_t>>(0);
  std::thread thread_;
};

}  // namespace herald
