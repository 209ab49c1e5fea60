// The operator endpoints and their own server.
#include "metrics/metrics_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

constexpr auto kRequestTimeout = std::chrono::seconds(10);

// One connection: requests answered one after the other while the client keeps it.
class OperatorSession : public std::enable_shared_from_this<OperatorSession> {
 public:
  OperatorSession(tcp::socket socket, const OperatorEndpoints& endpoints,
                  std::shared_ptr<std::atomic<size_t>> connections)
      : stream_(std::move(socket)), endpoints_(endpoints), connections_(std::move(connections)) {}
  ~OperatorSession() { connections_->fetch_sub(1); }

  void Read() {
    request_ = {};
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       if (!error) self->Answer();
                     });
  }

 private:
  void Answer() {
    std::string_view target = request_.target();
    std::string_view path = target.substr(0, target.find('?'));
    OperatorAnswer answer;
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      answer = {405, "the operator endpoints answer GET\n"};
    } else if (!OperatorEndpoints::Serves(path)) {
      answer = {404, "this address serves /metrics, /healthz and /readyz\n"};
    } else {
      answer = endpoints_.Answer(path);
    }
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(answer.status), request_.version());
    response->set(http::field::content_type, answer.content_type);
    response->set(http::field::cache_control, "no-store");
    response->keep_alive(request_.keep_alive());
    response->body() = std::move(answer.body);
    response->prepare_payload();
    if (request_.method() == http::verb::head) response->body().clear();
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code error, size_t) {
                        if (error || !response->keep_alive()) {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->Read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  const OperatorEndpoints& endpoints_;
  std::shared_ptr<std::atomic<size_t>> connections_;
};

}  // namespace

OperatorAnswer OperatorEndpoints::Answer(std::string_view path) const {
  if (path == "/metrics") {
    return {200, render_(), "text/plain; version=0.0.4"};
  }
  if (path == "/healthz") return {200, "ok\n"};
  // Not ready while draining, or while the engine cannot take publishes (Redis down).
  if (draining_.load()) return {503, "draining\n"};
  if (!engine_ready_()) return {503, "engine unavailable\n"};
  return {200, "ready\n"};
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& host, uint16_t port, const OperatorEndpoints& endpoints) {
  std::unique_ptr<MetricsServer> server(new MetricsServer(endpoints));
  boost::system::error_code error;
  tcp::endpoint endpoint(boost::asio::ip::make_address(host, error), port);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: '", host, "' is not an IP address"));
  }
  server->acceptor_.open(endpoint.protocol(), error);
  if (!error) server->acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) server->acceptor_.bind(endpoint, error);
  if (!error) server->acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port,
                                               " (--metrics_listen): ", error.message()));
  }
  server->port_ = server->acceptor_.local_endpoint().port();
  server->Accept();
  server->thread_ = std::thread([raw = server.get()] { raw->io_.run(); });
  return server;
}

MetricsServer::~MetricsServer() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsServer::Accept() {
  acceptor_.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error == boost::asio::error::operation_aborted) return;
    if (error) {
      // Out of file descriptors, say: the pending connection stays, so an accept at once would
      // fail again at once. Try again shortly.
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](boost::system::error_code wait_error) {
        if (!wait_error) Accept();
      });
      return;
    }
    // Past the cap the connection is closed at once: a scraper retries, nothing queues up.
    if (connections_->fetch_add(1) < kMaxConnections) {
      std::make_shared<OperatorSession>(std::move(socket), endpoints_, connections_)->Read();
    } else {
      connections_->fetch_sub(1);
    }
    Accept();
  });
}

}  // namespace herald
