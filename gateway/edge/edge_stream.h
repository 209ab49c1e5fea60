// One client connection's byte stream, plain TCP or TLS, so every session has a single code path
// for both (Beast's flex idea, without templating the sessions).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "edge/socket_calls.h"
#include "edge/tls_socket.h"

namespace herald {

class EdgeStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit EdgeStream(boost::beast::tcp_stream tcp) : stream_(std::move(tcp)) {}
  EdgeStream(EdgeStream&&) = default;
  EdgeStream& operator=(EdgeStream&&) = default;

  // Switches a plain stream to TLS with `context` (kept alive as long as the stream);
  // `already_read` are the client's bytes read before. The server handshake is the caller's
  // next step, through tls().
  void StartTls(std::shared_ptr<boost::asio::ssl::context> context, std::string already_read) {
    boost::beast::tcp_stream tcp = std::move(std::get<boost::beast::tcp_stream>(stream_));
    stream_.emplace<std::unique_ptr<TlsSocket>>(
        std::make_unique<TlsSocket>(std::move(tcp), context->native_handle(),
                                    std::move(already_read)));
    context_ = std::move(context);
  }

  bool is_tls() const { return std::holds_alternative<std::unique_ptr<TlsSocket>>(stream_); }
  // Over TLS, sends close_notify (TlsSocket::SendCloseNotify); nothing on plain TCP.
  void SendCloseNotify() {
    if (is_tls()) tls().SendCloseNotify();
  }
  TlsSocket& tls() { return *std::get<std::unique_ptr<TlsSocket>>(stream_); }

  // The TCP layer: the socket, and its shutdown.
  boost::beast::tcp_stream& tcp() {
    if (is_tls()) return tls().next_layer();
    return std::get<boost::beast::tcp_stream>(stream_);
  }

  // Ends the connection when `timeout` passes (a handshake, a request, a response), unless
  // changed before. On plain TCP only operations through this stream's async_read_some and
  // async_write_some are covered (not AsyncReadWhenReady or a session's WriteQueue): sessions
  // that use those set no deadline (expires_never) and keep their own timers.
  void expires_after(std::chrono::steady_clock::duration timeout) {
    if (is_tls()) {
      tls().expires_after(timeout);
    } else {
      tcp().expires_after(timeout);
    }
  }
  void expires_never() {
    if (is_tls()) {
      tls().expires_never();
    } else {
      tcp().expires_never();
    }
  }

  executor_type get_executor() noexcept { return tcp().get_executor(); }

  // The client a trusted proxy named for the request being answered (its IP address), or empty:
  // then RemoteAddress is the peer's.
  void set_forwarded_client(std::string address) { forwarded_client_ = std::move(address); }

  // The client's address: the one a trusted proxy named, or the peer's as `ip:port`
  // (`[ip]:port` for IPv6); empty once the socket is closed.
  std::string RemoteAddress() {
    if (!forwarded_client_.empty()) return forwarded_client_;
    boost::system::error_code error;
    boost::asio::ip::tcp::endpoint peer = tcp().socket().remote_endpoint(error);
    if (error) return "";
    std::string ip = peer.address().to_string();
    return peer.address().is_v6() ? "[" + ip + "]:" + std::to_string(peer.port())
                                  : ip + ":" + std::to_string(peer.port());
  }

  template <class MutableBuffers, class ReadHandler>
  auto async_read_some(const MutableBuffers& buffers, ReadHandler&& handler) {
    return boost::asio::async_initiate<ReadHandler, void(boost::system::error_code, std::size_t)>(
        [this](auto&& ready, const MutableBuffers& to) {
          if (is_tls()) {
            tls().async_read_some(to, std::move(ready));
          } else {
            tcp().async_read_some(to, std::move(ready));
          }
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
          if (is_tls()) {
            tls().async_write_some(from, std::move(done));
          } else {
            tcp().async_write_some(from, std::move(done));
          }
        },
        handler, buffers);
  }

 private:
  // One non-blocking read into `buffer`; false when the socket had nothing after all.
  bool ReceiveSome(boost::asio::mutable_buffer buffer, size_t& bytes,
                   boost::system::error_code& error) {
    if (buffer.size() == 0) return true;  // Nothing asked: nothing read, not the end.
    ssize_t got = ReceiveNow(tcp().socket().native_handle(), buffer.data(), buffer.size());
    if (got < 0) {
      if (WouldBlock(errno)) return false;
      error = boost::system::error_code(errno, boost::system::system_category());
    } else if (got == 0) {
      error = boost::asio::error::eof;
    } else {
      bytes = static_cast<size_t>(got);
    }
    return true;
  }

  std::variant<boost::beast::tcp_stream, std::unique_ptr<TlsSocket>> stream_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::string forwarded_client_;
};

}  // namespace herald
