// One client connection's byte stream, plain TCP or TLS, so every session has a single code path
// for both (Beast's flex idea, without templating the sessions).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <utility>
#include <variant>

namespace herald {

class EdgeStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  explicit EdgeStream(boost::beast::tcp_stream tcp) : stream_(std::move(tcp)) {}
  EdgeStream(EdgeStream&&) = default;
  EdgeStream& operator=(EdgeStream&&) = default;

  // Switches a plain stream to TLS with `context` (kept alive as long as the stream); the
  // server handshake is the caller's next step, through tls().
  void StartTls(std::shared_ptr<boost::asio::ssl::context> context) {
    boost::beast::tcp_stream tcp = std::move(std::get<boost::beast::tcp_stream>(stream_));
    stream_.emplace<TlsStream>(std::move(tcp), *context);
    context_ = std::move(context);
  }

  bool is_tls() const { return std::holds_alternative<TlsStream>(stream_); }
  TlsStream& tls() { return std::get<TlsStream>(stream_); }

  // The TCP layer: timeouts, the socket, and its shutdown.
  boost::beast::tcp_stream& tcp() {
    if (TlsStream* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
    return std::get<boost::beast::tcp_stream>(stream_);
  }

  executor_type get_executor() noexcept {
    return std::visit([](auto& stream) { return stream.get_executor(); }, stream_);
  }

  template <class MutableBuffers, class ReadHandler>
  auto async_read_some(const MutableBuffers& buffers, ReadHandler&& handler) {
    return boost::asio::async_initiate<ReadHandler, void(boost::system::error_code, std::size_t)>(
        [this](auto&& ready, const MutableBuffers& to) {
          std::visit([&](auto& stream) { stream.async_read_some(to, std::move(ready)); }, stream_);
        },
        handler, buffers);
  }

  // Reads what the peer sends next into the buffer `buffer_for_read()` returns, asked for only
  // once bytes arrived: on plain TCP the stream waits for the socket to become readable and then
  // reads at once, so an idle connection holds no read buffer and only a small wait operation.
  // Over TLS (whose engine may hold bytes already decrypted) it is an ordinary read.
  // `handler(error, bytes)`; a closed connection is error::eof.
  template <class BufferForRead, class ReadHandler>
  void AsyncReadWhenReady(BufferForRead buffer_for_read, ReadHandler handler) {
    if (is_tls()) {
      tls().async_read_some(buffer_for_read(), std::move(handler));
      return;
    }
    tcp().socket().async_wait(
        boost::asio::socket_base::wait_read,
        [this, buffer_for_read = std::move(buffer_for_read),
         handler = std::move(handler)](boost::system::error_code error) mutable {
          size_t bytes = 0;
          if (!error && !ReceiveSome(buffer_for_read(), bytes, error)) {
            // Woken without bytes after all: wait again.
            AsyncReadWhenReady(std::move(buffer_for_read), std::move(handler));
            return;
          }
          handler(error, bytes);
        });
  }

  template <class ConstBuffers, class WriteHandler>
  auto async_write_some(const ConstBuffers& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::system::error_code, std::size_t)>(
        [this](auto&& done, const ConstBuffers& from) {
          std::visit([&](auto& stream) { stream.async_write_some(from, std::move(done)); },
                     stream_);
        },
        handler, buffers);
  }

 private:
  // One non-blocking read into `buffer`; false when the socket had nothing after all.
  bool ReceiveSome(boost::asio::mutable_buffer buffer, size_t& bytes,
                   boost::system::error_code& error) {
    for (;;) {
      ssize_t got = ::recv(tcp().socket().native_handle(), buffer.data(), buffer.size(),
                           MSG_DONTWAIT);
      if (got > 0) {
        bytes = static_cast<size_t>(got);
        return true;
      }
      if (got == 0) {
        error = boost::asio::error::eof;
        return true;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      error = boost::system::error_code(errno, boost::system::system_category());
      return true;
    }
  }

  std::variant<boost::beast::tcp_stream, TlsStream> stream_;
  std::shared_ptr<boost::asio::ssl::context> context_;
};

// Closes the TCP socket at once (Beast calls it through ADL when a WebSocket times out or fails).
inline void beast_close_socket(EdgeStream& stream) { stream.tcp().close(); }

// How a WebSocket over an EdgeStream ends its transport (found by Beast through ADL): a TLS
// close_notify, or a TCP shutdown.
inline void teardown(boost::beast::role_type role, EdgeStream& stream,
                     boost::beast::error_code& error) {
  using boost::beast::websocket::teardown;
  if (stream.is_tls()) {
    teardown(role, stream.tls(), error);
  } else {
    teardown(role, stream.tcp().socket(), error);
  }
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, EdgeStream& stream, TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  if (stream.is_tls()) {
    async_teardown(role, stream.tls(), std::forward<TeardownHandler>(handler));
  } else {
    async_teardown(role, stream.tcp().socket(), std::forward<TeardownHandler>(handler));
  }
}

}  // namespace herald
