// SseClient: a raw-TCP client of /sse that decodes the HTTP response and the event stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "support/client_loop.h"
#include "support/http_stream_decoder.h"
#include "support/sse_parser.h"

namespace herald::testing {

// How to connect.
struct SseOptions {
  // Extra request header lines without CRLF, e.g. "Last-Event-ID: 3" or "Origin: http://x".
  std::vector<std::string> extra_headers;
  // False models a client that stopped reading: after the response headers nothing more is read
  // until StartReading().
  bool start_reading = true;
  // SO_RCVBUF for the socket when > 0.
  int receive_buffer_bytes = 0;
  // Size of each read; a small value exercises parsing of data split at arbitrary points.
  std::size_t read_chunk_bytes = 16 * 1024;
  std::chrono::milliseconds timeout{10000};
};

// Sends `GET <target> HTTP/1.1` with `Accept: text/event-stream` on a ClientLoop, then parses the
// status, the headers and the body (chunked, Content-Length or close-delimited). The body is kept
// whole (Body()) and parsed as an event stream. All public methods are thread-safe.
class SseClient : public std::enable_shared_from_this<SseClient> {
 public:
  // Connects and waits (10 s) until the response headers are parsed, whatever the status (check
  // StatusCode(): a 400 answer is a valid outcome). Null if no response headers arrived (the
  // reason is printed to stderr).
  static std::shared_ptr<SseClient> Connect(ClientLoop& loop, std::uint16_t port,
                                            std::string target,
                                            std::vector<std::string> extra_headers = {});
  static std::shared_ptr<SseClient> ConnectWithOptions(ClientLoop& loop, std::uint16_t port,
                                                       std::string target, SseOptions options);

  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  // Response head.
  int StatusCode() const;
  std::optional<std::string> Header(std::string_view name) const;  // case-insensitive
  std::vector<std::pair<std::string, std::string>> Headers() const;

  // Body and event stream.
  std::string Body() const;  // the decoded body so far
  std::vector<SseEvent> Events() const;
  std::size_t EventCount() const;
  std::size_t CommentCount() const;
  std::vector<std::string> Comments() const;  // without ':' and one space: ": ping" -> "ping"
  std::string LastComment() const;
  std::optional<std::int64_t> Retry() const;  // last `retry:` value
  std::string LastEventId() const;            // the stream's last event ID buffer

  // End of the stream: EOF, error, body complete (chunked terminator / Content-Length), or
  // Close().
  bool Ended() const;
  // True when the body ended by its framing (last chunk, Content-Length, or EOF of a
  // close-delimited body); false for a truncated stream or a client-side Close().
  bool BodyComplete() const;
  // Why the stream ended badly or a protocol error; empty otherwise.
  std::string Error() const;

  void StartReading();
  // Closes the socket (the stream then counts as ended).
  void Close();

  // Waits until `predicate` holds (it runs without the lock: it may call the accessors above).
  bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);
  // Until at least `count` events were dispatched in total.
  bool WaitForEvents(std::size_t count, std::chrono::milliseconds timeout);
  // Until a comment equal to `text` arrived ("ping" and ": ping" both match ": ping").
  bool WaitForComment(std::string text, std::chrono::milliseconds timeout);
  // Until the stream ended.
  bool WaitForEnd(std::chrono::milliseconds timeout);

 private:
  SseClient(ClientLoop& loop, SseOptions options);

  void DoConnect(std::uint16_t port, std::string target);
  void DoRead();
  void OnData(std::size_t bytes);
  void Finish(std::string error);  // loop thread
  void Notify();                   // caller holds mutex_

  ClientLoop& loop_;
  SseOptions options_;

  // Loop-thread state.
  boost::asio::ip::tcp::socket socket_;
  std::string request_;
  std::vector<char> read_buffer_;
  bool reading_ = false;
  bool paused_ = false;  // start_reading == false and headers done: stop after this read
  bool closed_ = false;

  // Shared state, guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t version_ = 0;
  HttpStreamDecoder decoder_;
  SseParser parser_;
  std::string body_;
  std::vector<SseEvent> events_;
  std::vector<std::string> comments_;
  bool headers_done_ = false;
  bool ended_ = false;
  std::string error_;
};

}  // namespace herald::testing
