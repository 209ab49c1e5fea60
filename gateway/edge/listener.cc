// HTTP listener.
#include "edge/listener.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "edge/http_session.h"
#include "log.h"

namespace herald {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(EventLoops& loops, EdgeContext& context)
    : loops_(loops),
      context_(context),
      acceptor_(loops.context(0)),
      retry_timer_(loops.context(0)) {}

absl::StatusOr<std::shared_ptr<Listener>> Listener::Bind(EventLoops& loops, EdgeContext& context,
                                                        const std::string& host, uint16_t port) {
  std::shared_ptr<Listener> listener(new Listener(loops, context));
  boost::system::error_code error;
  net::ip::address address = net::ip::make_address(host, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP listen host '", host, "'"));
  }
  tcp::endpoint endpoint(address, port);
  tcp::acceptor& acceptor = listener->acceptor_;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(net::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(net::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, ": ", error.message()));
  }
  listener->port_ = acceptor.local_endpoint().port();
  return listener;
}

void Listener::Start() { Accept(); }

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
}

void Listener::Accept() {
  size_t loop = next_loop_;
  next_loop_ = (next_loop_ + 1) % loops_.size();
  acceptor_.async_accept(
      net::any_io_executor(loops_.context(loop).get_executor()),
      [self = shared_from_this(), loop](boost::system::error_code error, tcp::socket socket) {
        if (error == net::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (!error) {
          boost::system::error_code ignored;
          boost::asio::ip::address peer = socket.remote_endpoint(ignored).address();
          std::optional<PendingSlot> pending = self->context_.connections.AcquirePending(
              ClientAddressBucket(peer), self->context_.config.trusted_proxies.Contains(peer));
          if (!pending) {
            // Closed at once (before any TLS work): the cap of connections not yet admitted.
            self->NotePendingRefused();
            socket.close(error);
            self->Accept();
            return;
          }
          socket.set_option(tcp::no_delay(true), error);
          // The session starts on its own loop, which owns the socket from now on.
          auto session = std::make_shared<HttpSession>(std::move(socket), self->context_, loop,
                                                       *std::move(pending));
          net::post(self->loops_.context(loop), [session] { session->Run(); });
        } else {
          LogWarning(absl::StrCat("accept failed: ", error.message()));
          self->AcceptLater();
          return;
        }
        self->Accept();
      });
}

void Listener::NotePendingRefused() {
  // Logged once per burst: the first refusal, then one every 10 s while they go on.
  auto now = std::chrono::steady_clock::now();
  ++pending_refused_;
  if (now - pending_refused_logged_ < std::chrono::seconds(10)) return;
  pending_refused_logged_ = now;
  LogWarning(absl::StrCat("--max_pending_connections=", context_.config.max_pending_connections,
                          " (or --max_connections_per_ip from one address) reached: closed ",
                          pending_refused_,
                          " new connections at once (a flood of handshakes or slow requests?)"));
  pending_refused_ = 0;
}

void Listener::AcceptLater() {
  retry_timer_.expires_after(std::chrono::milliseconds(100));
  retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error && self->acceptor_.is_open()) self->Accept();
  });
}

}  // namespace herald
