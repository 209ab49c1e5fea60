// The server side of a TLS connection, with OpenSSL reading and writing the socket itself.
//
// asio's ssl::stream moves every record through a BIO pair and two buffers of its own, four
// blocks of 17 KiB a connection whether it is busy or idle. Here OpenSSL reads records straight
// from the file descriptor and writes them straight to it; with SSL_MODE_RELEASE_BUFFERS (set on
// the context) its own record buffers exist only while a record is in progress, so an idle
// connection holds little more than OpenSSL's session state. Operations have the asio shape
// (async_read_some, async_write_some), so Beast's HTTP reads and writes and asio::async_write
// work on it; at most one read and one write may be pending at a time, as for a socket.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

namespace herald {

class TlsSocket {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  // Takes over `tcp` for a server handshake with `context`. `already_read` are bytes the client
  // sent that were read off the socket before (the start of its first flight).
  TlsSocket(boost::beast::tcp_stream tcp, SSL_CTX* context, std::string already_read);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  boost::beast::tcp_stream& next_layer() { return tcp_; }
  executor_type get_executor() noexcept { return tcp_.get_executor(); }

  // Closes the socket once `timeout` passes, unless changed before (for the handshake, a
  // request, a response), whether an operation is pending or not; what is pending then fails
  // with beast::error::timeout.
  void expires_after(std::chrono::steady_clock::duration timeout);
  void expires_never();

  // Sends TLS's close_notify, so the peer can tell the end of the stream from a cut (an SSE
  // stream truncated by an attacker looks like one that ended). Only once everything written
  // has left (no write pending); the peer's answer is not awaited: the connection closes next.
  void SendCloseNotify();

  // handler(error_code).
  template <class Handler>
  void async_handshake(Handler handler) {
    Drive([this] { return SSL_do_handshake(ssl_); },
          [handler = std::move(handler)](boost::system::error_code error, size_t) mutable {
            handler(error);
          },
          /*first=*/true);
  }

  // handler(error_code, bytes): bytes decrypted into the first buffer of `buffers`.
  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler handler) {
    boost::asio::mutable_buffer to = FirstBuffer<boost::asio::mutable_buffer>(buffers);
    Drive([this, to] { return SSL_read(ssl_, to.data(), ClampToInt(to.size())); },
          std::move(handler), /*first=*/true, /*empty=*/to.size() == 0);
  }

  // handler(error_code, bytes): bytes of the first buffer of `buffers` written as records.
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler handler) {
    boost::asio::const_buffer from = FirstBuffer<boost::asio::const_buffer>(buffers);
    Drive([this, from] { return SSL_write(ssl_, from.data(), ClampToInt(from.size())); },
          std::move(handler), /*first=*/true, /*empty=*/from.size() == 0);
  }

 private:
  friend struct TlsSocketBio;
  enum class Step { kDone, kWantRead, kWantWrite };

  // Classifies what an SSL_* call returned: done (with its bytes or an error), or what the
  // socket must allow before the call is made again.
  Step Outcome(int result, size_t& bytes, boost::system::error_code& error);

  // Makes `attempt` (an SSL_* call) until it is done, waiting for the socket in between, then
  // calls handler(error, bytes): through the executor when done at once (an asio operation
  // never completes inside its initiation).
  template <class Attempt, class Handler>
  void Drive(Attempt attempt, Handler handler, bool first, bool empty = false) {
    size_t bytes = 0;
    boost::system::error_code error;
    Step step = Step::kDone;
    if (!empty) {
      // OpenSSL's error queue is per thread: what another connection left must not be read as
      // this call's outcome.
      ERR_clear_error();
      step = Outcome(attempt(), bytes, error);
    }
    if (error && timed_out_) error = boost::beast::error::timeout;
    if (step == Step::kDone) {
      if (first) {
        boost::asio::post(tcp_.get_executor(),
                          [handler = std::move(handler), error, bytes]() mutable {
                            handler(error, bytes);
                          });
      } else {
        handler(error, bytes);
      }
      return;
    }
    tcp_.socket().async_wait(
        step == Step::kWantRead ? boost::asio::socket_base::wait_read
                                : boost::asio::socket_base::wait_write,
        [this, attempt = std::move(attempt),
         handler = std::move(handler)](boost::system::error_code wait_error) mutable {
          if (wait_error) {
            handler(timed_out_ ? boost::beast::error::timeout : wait_error, 0);
            return;
          }
          Drive(std::move(attempt), std::move(handler), /*first=*/false);
        });
  }

  template <class Buffer, class Buffers>
  static Buffer FirstBuffer(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      Buffer buffer(*it);
      if (buffer.size() != 0) return buffer;
    }
    return Buffer();
  }
  static int ClampToInt(size_t size) { return static_cast<int>(std::min<size_t>(size, 1 << 30)); }

  boost::beast::tcp_stream tcp_;
  SSL* ssl_;
  std::string already_read_;  // Served to OpenSSL before the socket.
  int last_errno_ = 0;        // Of the socket call that failed last.
  bool peer_closed_ = false;  // A read found the end of the stream (BIO_eof).
  boost::asio::steady_timer deadline_;
  bool timed_out_ = false;  // The deadline closed the socket.
  // Lets a deadline that fires after the socket is gone know it.
  std::shared_ptr<TlsSocket*> self_;
};

}  // namespace herald
