// SseClient: request, read loop, HTTP/SSE decoding and the waiting helpers.
#include "support/sse_client.h"
#include "support/version_wait.h"

#include <cstdio>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace herald::testing {
namespace {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

}  // namespace

SseClient::SseClient(ClientLoop& loop, SseOptions options)
    : loop_(loop),
      options_(std::move(options)),
      socket_(loop.context()),
      read_buffer_(options_.read_chunk_bytes == 0 ? 1 : options_.read_chunk_bytes) {}

SseClient::~SseClient() = default;

std::shared_ptr<SseClient> SseClient::Connect(ClientLoop& loop, std::uint16_t port,
                                              std::string target,
                                              std::vector<std::string> extra_headers) {
  SseOptions options;
  options.extra_headers = std::move(extra_headers);
  return ConnectWithOptions(loop, port, std::move(target), std::move(options));
}

std::shared_ptr<SseClient> SseClient::ConnectWithOptions(ClientLoop& loop, std::uint16_t port,
                                                         std::string target,
                                                         SseOptions options) {
  const std::chrono::milliseconds timeout = options.timeout;
  std::shared_ptr<SseClient> client(new SseClient(loop, std::move(options)));
  asio::post(loop.executor(), [client, port, target]() mutable {
    client->DoConnect(port, std::move(target));
  });
  const bool answered = client->WaitFor(
      [&client] {
        std::lock_guard<std::mutex> lock(client->mutex_);
        return client->headers_done_ || client->ended_;
      },
      timeout);
  std::string error;
  {
    std::lock_guard<std::mutex> lock(client->mutex_);
    if (client->headers_done_) return client;
    error = answered ? client->error_ : "timed out waiting for the response headers";
  }
  client->Close();
  std::fprintf(stderr, "[sse_client] GET 127.0.0.1:%u%s failed: %s\n",
               static_cast<unsigned>(port), target.c_str(), error.c_str());
  return nullptr;
}

void SseClient::DoConnect(std::uint16_t port, std::string target) {
  request_ = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
             "\r\nAccept: text/event-stream\r\n";
  for (const std::string& line : options_.extra_headers) request_ += line + "\r\n";
  request_ += "\r\n";
  boost::system::error_code ec;
  socket_.open(tcp::v4(), ec);
  if (!ec && options_.receive_buffer_bytes > 0) {
    socket_.set_option(asio::socket_base::receive_buffer_size(options_.receive_buffer_bytes), ec);
  }
  if (ec) {
    Finish("socket: " + ec.message());
    return;
  }
  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  socket_.async_connect(endpoint, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec) {
      self->Finish("connect: " + ec.message());
      return;
    }
    asio::async_write(self->socket_, asio::buffer(self->request_),
                      [self](boost::system::error_code ec, std::size_t) {
                        if (ec) self->Finish("write: " + ec.message());
                      });
    self->DoRead();
  });
}

void SseClient::DoRead() {
  if (closed_) return;
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
        self->reading_ = false;
        if (bytes > 0) self->OnData(bytes);
        if (ec) {
          if (self->closed_) {
            self->Finish("closed by client");
          } else if (ec == asio::error::eof) {
            std::string error;
            {
              std::lock_guard<std::mutex> lock(self->mutex_);
              self->decoder_.FinishEof();
              if (self->decoder_.Failed()) error = self->decoder_.error();
            }
            self->Finish(error);
          } else {
            self->Finish("read: " + ec.message());
          }
          return;
        }
        bool stop = false;
        {
          std::lock_guard<std::mutex> lock(self->mutex_);
          stop = self->ended_ || (!self->options_.start_reading && self->headers_done_);
        }
        if (!stop) self->DoRead();
      });
}

void SseClient::OnData(std::size_t bytes) {
  std::string error;
  bool complete = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string decoded;
    const bool ok = decoder_.Feed(std::string_view(read_buffer_.data(), bytes), &decoded);
    headers_done_ = decoder_.HeadersDone();
    if (!decoded.empty()) {
      body_ += decoded;
      parser_.Feed(decoded);
      for (SseEvent& event : parser_.TakeEvents()) events_.push_back(std::move(event));
      for (std::string& comment : parser_.TakeComments()) comments_.push_back(std::move(comment));
    }
    if (!ok) error = "bad response: " + decoder_.error();
    complete = decoder_.BodyComplete();
    Notify();
  }
  if (!error.empty() || complete) Finish(error);
}

void SseClient::Finish(std::string error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) return;
    ended_ = true;
    error_ = std::move(error);
    Notify();
  }
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void SseClient::StartReading() {
  asio::post(loop_.executor(), [self = shared_from_this()] {
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->options_.start_reading = true;
      if (self->ended_) return;
    }
    if (!self->reading_) self->DoRead();
  });
}

void SseClient::Close() {
  asio::post(loop_.executor(), [self = shared_from_this()] {
    self->closed_ = true;
    if (!self->reading_) {
      self->Finish("closed by client");
    } else {
      boost::system::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
      self->socket_.cancel(ignored);
    }
  });
}

void SseClient::Notify() {
  ++version_;
  changed_.notify_all();
}

int SseClient::StatusCode() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return decoder_.status_code();
}

std::optional<std::string> SseClient::Header(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return decoder_.Header(name);
}

std::vector<std::pair<std::string, std::string>> SseClient::Headers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return decoder_.headers();
}

std::string SseClient::Body() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return body_;
}

std::vector<SseEvent> SseClient::Events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

std::size_t SseClient::EventCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_.size();
}

std::size_t SseClient::CommentCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return comments_.size();
}

std::vector<std::string> SseClient::Comments() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return comments_;
}

std::string SseClient::LastComment() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return comments_.empty() ? std::string() : comments_.back();
}

std::optional<std::int64_t> SseClient::Retry() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parser_.retry();
}

std::string SseClient::LastEventId() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parser_.last_event_id();
}

bool SseClient::Ended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}

bool SseClient::BodyComplete() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return decoder_.BodyComplete();
}

std::string SseClient::Error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

bool SseClient::WaitFor(const std::function<bool()>& predicate,
                        std::chrono::milliseconds timeout) {
  return WaitForVersionedState(mutex_, changed_, version_, predicate, timeout);
}

bool SseClient::WaitForEvents(std::size_t count, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return EventCount() >= count; }, timeout);
}

bool SseClient::WaitForComment(std::string text, std::chrono::milliseconds timeout) {
  if (!text.empty() && text.front() == ':') {
    text.erase(0, 1);
    if (!text.empty() && text.front() == ' ') text.erase(0, 1);
  }
  return WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const std::string& comment : comments_) {
          if (comment == text) return true;
        }
        return false;
      },
      timeout);
}

bool SseClient::WaitForEnd(std::chrono::milliseconds timeout) {
  return WaitFor([&] { return Ended(); }, timeout);
}

}  // namespace herald::testing
