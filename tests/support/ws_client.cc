// WsClient: connect/handshake, the read loop, the write queue and the waiting helpers.
#include "support/ws_client.h"
#include "support/version_wait.h"

#include <cstdio>

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket/error.hpp>

namespace herald::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

bool IsWebSocketError(const beast::error_code& ec) {
  return ec.category() == websocket::make_error_code(websocket::error::closed).category();
}

}  // namespace

WsClient::WsClient(ClientLoop& loop, WsOptions options)
    : options_(std::move(options)), ws_(loop.context()) {
  ws_.read_message_max(options_.read_message_max);
  ws_.auto_fragment(false);
  ws_.binary(true);
}

WsClient::~WsClient() = default;

std::shared_ptr<WsClient> WsClient::Connect(ClientLoop& loop, std::uint16_t port,
                                            std::string target, bool start_reading) {
  WsOptions options;
  options.start_reading = start_reading;
  WsHandshakeResult result = TryConnect(loop, port, target, std::move(options));
  if (!result.client) {
    std::fprintf(stderr, "[ws_client] connect to 127.0.0.1:%u%s failed: %s (HTTP %d)\n",
                 static_cast<unsigned>(port), target.c_str(), result.error.c_str(),
                 result.http_status);
  }
  return result.client;
}

WsHandshakeResult WsClient::TryConnect(ClientLoop& loop, std::uint16_t port, std::string target,
                                       WsOptions options) {
  const std::chrono::milliseconds timeout = options.timeout;
  std::shared_ptr<WsClient> client(new WsClient(loop, std::move(options)));
  asio::post(client->ws_.get_executor(),
             [client, port, target = std::move(target)]() mutable {
               client->DoConnect(port, std::move(target));
             });
  const auto handshake_done = [&client] {
    std::lock_guard<std::mutex> lock(client->mutex_);
    return client->handshake_done_;
  };
  WsHandshakeResult result;
  // The tcp_stream deadline bounds the handshake; the extra second lets its error arrive.
  if (!client->WaitFor(handshake_done, timeout + std::chrono::seconds(1))) {
    client->Abort();
    result.error = "handshake timed out";
    return result;
  }
  std::lock_guard<std::mutex> lock(client->mutex_);
  result.http_status = client->http_status_;
  result.error = client->handshake_error_;
  if (client->http_status_ != 0) {
    for (const auto& field : client->handshake_response_) {
      result.response_headers.emplace_back(std::string(field.name_string()),
                                           std::string(field.value()));
    }
    result.response_body = client->handshake_response_.body();
  }
  if (result.error.empty()) result.client = client;
  return result;
}

void WsClient::DoConnect(std::uint16_t port, std::string target) {
  auto& lowest = beast::get_lowest_layer(ws_);
  lowest.expires_after(options_.timeout);
  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  if (options_.receive_buffer_bytes > 0) {
    beast::error_code ec;
    lowest.socket().open(tcp::v4(), ec);
    if (!ec) {
      lowest.socket().set_option(
          asio::socket_base::receive_buffer_size(options_.receive_buffer_bytes), ec);
    }
    if (ec) {
      FinishHandshake(ec);
      return;
    }
  }
  lowest.async_connect(endpoint, [self = shared_from_this(), port,
                                  target = std::move(target)](beast::error_code ec) {
    if (ec) {
      self->FinishHandshake(ec);
      return;
    }
    self->ws_.set_option(websocket::stream_base::decorator(
        [headers = self->options_.headers](websocket::request_type& request) {
          request.set(boost::beast::http::field::user_agent, "herald-test-ws");
          for (const auto& [name, value] : headers) request.set(name, value);
        }));
    const std::string host = "127.0.0.1:" + std::to_string(port);
    self->ws_.async_handshake(self->handshake_response_, host, target,
                              [self](beast::error_code ec) { self->FinishHandshake(ec); });
  });
}

void WsClient::FinishHandshake(const beast::error_code& ec) {
  beast::get_lowest_layer(ws_).expires_never();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handshake_done_ = true;
    if (!ec || IsWebSocketError(ec)) http_status_ = handshake_response_.result_int();
    if (ec) {
      handshake_error_ = ec.message();
      if (handshake_error_.empty()) handshake_error_ = "handshake failed";
      ended_ = true;
      error_ = handshake_error_;
    }
    Notify();
  }
  if (ec) return;
  websocket::stream_base::timeout timeouts =
      websocket::stream_base::timeout::suggested(beast::role_type::client);
  timeouts.handshake_timeout = options_.timeout;  // bounds the closing handshake
  ws_.set_option(timeouts);
  open_ = true;
  if (options_.start_reading) DoRead();
  if (!write_queue_.empty() && !writing_) DoWrite();
}

void WsClient::Send(const herald::v1::ClientMessage& message) {
  Enqueue(Outgoing{Outgoing::Kind::kBinary, message.SerializeAsString()});
}

void WsClient::SendBinary(std::string bytes) {
  Enqueue(Outgoing{Outgoing::Kind::kBinary, std::move(bytes)});
}

void WsClient::SendText(std::string text) {
  Enqueue(Outgoing{Outgoing::Kind::kText, std::move(text)});
}

void WsClient::Close(std::uint16_t code, std::string reason) {
  Enqueue(Outgoing{Outgoing::Kind::kClose, std::move(reason), code});
}

void WsClient::Enqueue(Outgoing item) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), item = std::move(item)]() mutable {
    if (self->close_sent_ || !self->open_) {
      std::lock_guard<std::mutex> lock(self->mutex_);
      if (self->write_error_.empty()) self->write_error_ = "write after close or end";
      self->Notify();
      return;
    }
    self->write_queue_.push_back(std::move(item));
    if (!self->writing_) self->DoWrite();
  });
}

void WsClient::DoWrite() {
  writing_ = true;
  Outgoing& item = write_queue_.front();
  auto on_done = [self = shared_from_this()](beast::error_code ec, std::size_t = 0) {
    self->writing_ = false;
    const bool was_close = self->write_queue_.front().kind == Outgoing::Kind::kClose;
    self->write_queue_.pop_front();
    if (!self->open_) self->write_queue_.clear();  // Ended while this write was in flight.
    if (ec) {
      self->write_queue_.clear();
      std::lock_guard<std::mutex> lock(self->mutex_);
      if (self->write_error_.empty()) self->write_error_ = ec.message();
      self->Notify();
    }
    if (was_close) {
      // The close operation read the server's close frame itself (a pending read is aborted).
      self->close_in_flight_ = false;
      self->EndConnection(ec ? ec : beast::error_code(websocket::error::closed));
      return;
    }
    if (!ec && !self->write_queue_.empty() && self->open_) self->DoWrite();
  };
  switch (item.kind) {
    case Outgoing::Kind::kBinary:
      ws_.binary(true);
      ws_.async_write(asio::buffer(item.bytes), std::move(on_done));
      break;
    case Outgoing::Kind::kText:
      ws_.text(true);
      ws_.async_write(asio::buffer(item.bytes), std::move(on_done));
      break;
    case Outgoing::Kind::kClose:
      close_sent_ = true;
      close_in_flight_ = true;
      ws_.async_close(
          websocket::close_reason(static_cast<websocket::close_code>(item.close_code),
                                  item.bytes),
          [on_done = std::move(on_done)](beast::error_code ec) mutable { on_done(ec); });
      break;
  }
}

void WsClient::StartReading() {
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    if (self->reading_ || !self->open_) return;
    self->DoRead();
  });
}

void WsClient::Abort() {
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    auto& socket = beast::get_lowest_layer(self->ws_).socket();
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    if (!self->reading_) self->EndConnection(asio::error::operation_aborted);
  });
}

void WsClient::DoRead() {
  reading_ = true;
  ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec,
                                                          std::size_t bytes) {
    self->OnRead(ec, bytes);
  });
}

void WsClient::OnRead(const beast::error_code& ec, std::size_t bytes) {
  if (ec) {
    reading_ = false;
    // During our own closing handshake the close operation finishes the connection.
    if (ec == asio::error::operation_aborted && close_in_flight_) return;
    EndConnection(ec);
    return;
  }
  const bool text = ws_.got_text();
  herald::v1::ServerMessage message;
  bool parsed = false;
  if (!text) {
    const auto data = read_buffer_.data();
    parsed = message.ParseFromArray(data.data(), static_cast<int>(data.size()));
  }
  read_buffer_.consume(read_buffer_.size());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++frame_count_;
    bytes_received_ += bytes;
    if (text) {
      ++text_frame_count_;
    } else if (!parsed) {
      ++parse_error_count_;
    } else {
      // Replies first: a subscribe answer tells the epoch of the events behind it.
      if (message.has_connected()) {
        for (const auto& result : message.connected().subscriptions()) {
          known_epochs_[result.topic()] = result.epoch();
        }
      }
      for (const auto& reply : message.replies()) {
        if (reply.has_subscribed()) {
          known_epochs_[reply.subscribed().topic()] = reply.subscribed().epoch();
        }
        replies_.push_back(reply);
      }
      for (const auto& event : message.events()) {
        events_.push_back(event);
        std::string& known = known_epochs_[event.topic()];
        if (event.epoch().empty()) {
          events_.back().set_epoch(known);
        } else {
          known = event.epoch();
        }
      }
      if (message.has_disconnect()) disconnect_ = message.disconnect();
      messages_.push_back(std::move(message));
    }
    Notify();
  }
  DoRead();
}

void WsClient::EndConnection(const beast::error_code& ec) {
  open_ = false;
  // The item being written stays until its write completes: its bytes are in use.
  write_queue_.erase(write_queue_.begin() + (writing_ && !write_queue_.empty() ? 1 : 0),
                     write_queue_.end());
  std::lock_guard<std::mutex> lock(mutex_);
  if (ended_) return;
  ended_ = true;
  // A close frame that arrived counts even when the TCP teardown after it failed (as in a
  // browser, whose close event reports the code it received).
  if (ec == websocket::error::closed || ws_.reason().code != websocket::close_code::none) {
    close_code_ = static_cast<std::uint16_t>(ws_.reason().code);
    close_reason_ = std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
    error_ = "closed";
  } else {
    close_code_ = kNoCloseFrame;
    error_ = ec.message();
  }
  Notify();
}

void WsClient::Notify() {
  ++version_;
  changed_.notify_all();
}

std::vector<herald::v1::ServerMessage> WsClient::Messages() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return messages_;
}

std::vector<herald::v1::Event> WsClient::Events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

std::vector<herald::v1::Reply> WsClient::Replies() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return replies_;
}

std::size_t WsClient::EventCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_.size();
}

std::size_t WsClient::FrameCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return frame_count_;
}

std::size_t WsClient::TextFrameCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return text_frame_count_;
}

std::size_t WsClient::ParseErrorCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parse_error_count_;
}

std::uint64_t WsClient::BytesReceived() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_received_;
}

std::optional<herald::v1::Connected> WsClient::Connected() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (messages_.empty() || !messages_.front().has_connected()) return std::nullopt;
  return messages_.front().connected();
}

std::optional<herald::v1::Disconnect> WsClient::Disconnect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return disconnect_;
}

bool WsClient::Ended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}

std::optional<std::uint16_t> WsClient::CloseCode() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return close_code_;
}

std::string WsClient::CloseReason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return close_reason_;
}

std::string WsClient::Error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

std::string WsClient::WriteError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return write_error_;
}

bool WsClient::WaitFor(const std::function<bool()>& predicate,
                       std::chrono::milliseconds timeout) {
  return WaitForVersionedState(mutex_, changed_, version_, predicate, timeout);
}

bool WsClient::WaitForEvents(std::size_t count, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return EventCount() >= count; }, timeout);
}

std::optional<herald::v1::Reply> WsClient::WaitForReply(std::uint32_t id,
                                                        std::chrono::milliseconds timeout) {
  std::optional<herald::v1::Reply> found;
  WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& reply : replies_) {
          if (reply.id() == id) {
            found = reply;
            return true;
          }
        }
        return ended_;
      },
      timeout);
  return found;
}

std::optional<std::uint16_t> WsClient::WaitForClose(std::chrono::milliseconds timeout) {
  if (!WaitFor([&] { return Ended(); }, timeout)) return std::nullopt;
  return CloseCode();
}

std::optional<herald::v1::Connected> WsClient::WaitForConnected(
    std::chrono::milliseconds timeout) {
  WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        return !messages_.empty() || ended_;
      },
      timeout);
  return Connected();
}

}  // namespace herald::testing
