// TLS with OpenSSL on the socket: a BIO that reads and writes the file descriptor.
#include "edge/tls_socket.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>

#include "edge/socket_calls.h"

namespace herald {

// The BIO under the SSL object: non-blocking recv and send on the socket, after the bytes read
// before TLS began.
struct TlsSocketBio {
  static TlsSocket& Of(BIO* bio) { return *static_cast<TlsSocket*>(BIO_get_data(bio)); }

  static int Read(BIO* bio, char* out, int size) {
    BIO_clear_retry_flags(bio);
    TlsSocket& socket = Of(bio);
    if (!socket.already_read_.empty()) {
      size_t count = std::min(static_cast<size_t>(size), socket.already_read_.size());
      std::memcpy(out, socket.already_read_.data(), count);
      socket.already_read_.erase(0, count);
      if (socket.already_read_.empty()) std::string().swap(socket.already_read_);
      return static_cast<int>(count);
    }
    ssize_t got = ReceiveNow(socket.tcp_.socket().native_handle(), out, static_cast<size_t>(size));
    if (got == 0) socket.peer_closed_ = true;
    if (got >= 0) return static_cast<int>(got);
    if (WouldBlock(errno)) {
      BIO_set_retry_read(bio);
    } else {
      socket.last_errno_ = errno;
    }
    return -1;
  }

  static int Write(BIO* bio, const char* in, int size) {
    BIO_clear_retry_flags(bio);
    TlsSocket& socket = Of(bio);
    ssize_t sent = SendNow(socket.tcp_.socket().native_handle(), in, static_cast<size_t>(size));
    if (sent >= 0) return static_cast<int>(sent);
    if (WouldBlock(errno)) {
      BIO_set_retry_write(bio);
    } else {
      socket.last_errno_ = errno;
    }
    return -1;
  }

  // Nothing is buffered here, so a flush is done at once; the end of the stream is what a read
  // found. Other controls (kernel TLS, chains) are not supported.
  static long Control(BIO* bio, int command, long, void*) {
    if (command == BIO_CTRL_FLUSH) return 1;
    if (command == BIO_CTRL_EOF) return Of(bio).peer_closed_ ? 1 : 0;
    return 0;
  }

  static int Create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }

  static BIO_METHOD* Method() {
    static BIO_METHOD* const method = [] {
      BIO_METHOD* created = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "herald");
      BIO_meth_set_read(created, Read);
      BIO_meth_set_write(created, Write);
      BIO_meth_set_ctrl(created, Control);
      BIO_meth_set_create(created, Create);
      return created;
    }();
    return method;
  }
};

TlsSocket::TlsSocket(boost::beast::tcp_stream tcp, SSL_CTX* context, std::string already_read)
    : tcp_(std::move(tcp)),
      ssl_(SSL_new(context)),
      already_read_(std::move(already_read)),
      deadline_(tcp_.get_executor()),
      self_(std::make_shared<TlsSocket*>(this)) {
  BIO* bio = BIO_new(TlsSocketBio::Method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);
  // A write completes when all its bytes left as records (one completion per batch, however
  // many records it takes); one that waits for the socket is made again with the same bytes.
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_accept_state(ssl_);
}

TlsSocket::~TlsSocket() { SSL_free(ssl_); }

void TlsSocket::expires_after(std::chrono::steady_clock::duration timeout) {
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = std::weak_ptr<TlsSocket*>(self_)](boost::system::error_code error) {
    std::shared_ptr<TlsSocket*> alive = self.lock();
    if (error || !alive) return;
    TlsSocket& socket = **alive;
    // A wait that completed just before the deadline moved (its handler was already queued
    // and could not be cancelled) must not end the connection.
    if (socket.deadline_.expiry() > std::chrono::steady_clock::now()) return;
    socket.timed_out_ = true;
    boost::system::error_code ignored;
    socket.tcp_.socket().close(ignored);
  });
}

void TlsSocket::SendCloseNotify() {
  ERR_clear_error();
  // Non-blocking: writes the alert if the socket takes it, and fails harmlessly after a fatal
  // error (nothing more may be sent then).
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsSocket::expires_never() { deadline_.expires_at(std::chrono::steady_clock::time_point::max()); }

TlsSocket::Step TlsSocket::Outcome(int result, size_t& bytes, boost::system::error_code& error) {
  if (result > 0) {
    bytes = static_cast<size_t>(result);
    return Step::kDone;
  }
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      return Step::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Step::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:  // The peer's close_notify.
      error = boost::asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      error = last_errno_ != 0
                  ? boost::system::error_code(last_errno_, boost::system::system_category())
                  : boost::system::error_code(boost::asio::ssl::error::stream_truncated);
      break;
    default:
      error = boost::system::error_code(static_cast<int>(ERR_get_error()),
                                        boost::asio::error::get_ssl_category());
      if (!error) error = boost::asio::ssl::error::unexpected_result;
      break;
  }
  last_errno_ = 0;
  return Step::kDone;
}

}  // namespace herald
