// WsClient: an async Beast WebSocket client of /ws that records every ServerMessage it receives.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "herald/v1/websocket.pb.h"
#include "support/client_loop.h"

namespace herald::testing {

class WsClient;

// How to connect.
struct WsOptions {
  // False models a client that stopped reading: nothing is read (not even control frames) until
  // StartReading().
  bool start_reading = true;
  // Extra handshake request headers (Origin, Authorization, Cookie, ...).
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t read_message_max = 16 * 1024 * 1024;
  // SO_RCVBUF for the socket when > 0 (a small buffer makes a non-reading client back up fast).
  int receive_buffer_bytes = 0;
  std::chrono::milliseconds timeout{10000};
};

// Outcome of a handshake attempt.
struct WsHandshakeResult {
  std::shared_ptr<WsClient> client;  // null when the handshake failed
  int http_status = 0;               // 101 on success; the refusal's status; 0 if no answer
  std::vector<std::pair<std::string, std::string>> response_headers;
  std::string response_body;  // body of a refused handshake
  std::string error;          // why it failed (empty on success)
};

// A WebSocket connection on a ClientLoop. All public methods are thread-safe; commands are posted
// to the loop. Every binary frame received is parsed as a ServerMessage; events and replies are
// also flattened (a frame may carry several of each). Waits use a condition variable and a
// deadline.
class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  // WaitForClose()/CloseCode() value when the connection ended without a close frame.
  static constexpr std::uint16_t kNoCloseFrame = 0;

  // Connects to ws://127.0.0.1:port<target> and waits for the handshake (10 s). Returns null on
  // any failure (the reason is printed to stderr); use TryConnect for the refusal's HTTP status.
  static std::shared_ptr<WsClient> Connect(ClientLoop& loop, std::uint16_t port,
                                           std::string target, bool start_reading = true);
  static WsHandshakeResult TryConnect(ClientLoop& loop, std::uint16_t port, std::string target,
                                      WsOptions options = {});

  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Sending (queued; one write in flight at a time).
  void Send(const herald::v1::ClientMessage& message);
  void SendBinary(std::string bytes);  // raw bytes in one binary frame
  void SendText(std::string text);     // one text frame
  // Begins the read loop of a client connected with start_reading = false (no-op otherwise).
  void StartReading();
  // Sends a close frame (1000, after queued writes) and lets the read loop see the answer.
  void Close(std::uint16_t code = 1000, std::string reason = "");
  // Drops the TCP connection without a close frame.
  void Abort();

  // Received data (copies, taken under the lock).
  std::vector<herald::v1::ServerMessage> Messages() const;  // as received
  // Every event received, with its epoch filled in as a client knows it: an event names its
  // epoch only when it is news, otherwise it is the one of the topic's subscribe answer or
  // last event that named one.
  std::vector<herald::v1::Event> Events() const;
  std::vector<herald::v1::Reply> Replies() const;
  std::size_t EventCount() const;
  std::size_t FrameCount() const;        // every data frame received, binary or text
  std::size_t TextFrameCount() const;    // text frames received (the server should send none)
  std::size_t ParseErrorCount() const;   // binary frames that were not a ServerMessage
  std::uint64_t BytesReceived() const;   // payload bytes of all data frames
  std::optional<herald::v1::Connected> Connected() const;    // first message's `connected`
  std::optional<herald::v1::Disconnect> Disconnect() const;  // last `disconnect` received

  // End of the connection.
  bool Ended() const;
  // Close code from the server's close frame, kNoCloseFrame when the connection dropped without
  // one, nullopt while open.
  std::optional<std::uint16_t> CloseCode() const;
  std::string CloseReason() const;
  // How the read loop ended (e.g. "closed", "end of stream", "connection reset by peer").
  std::string Error() const;
  // The first write error, if any.
  std::string WriteError() const;

  // Waits until `predicate` holds. It runs on the calling thread without the client's lock, so it
  // may call any accessor above; it is re-evaluated after each change. False on timeout.
  bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);
  // Until at least `count` events arrived in total. False on timeout.
  bool WaitForEvents(std::size_t count, std::chrono::milliseconds timeout);
  // The reply carrying `id` (the first one), or nullopt on timeout / end of connection.
  std::optional<herald::v1::Reply> WaitForReply(std::uint32_t id,
                                                std::chrono::milliseconds timeout);
  // The close code (kNoCloseFrame if there was no close frame), or nullopt on timeout.
  std::optional<std::uint16_t> WaitForClose(std::chrono::milliseconds timeout);
  // The `connected` of the first ServerMessage; nullopt on timeout, on end of connection, or when
  // the first message has none.
  std::optional<herald::v1::Connected> WaitForConnected(std::chrono::milliseconds timeout);

 private:
  struct Outgoing {
    enum class Kind { kBinary, kText, kClose } kind;
    std::string bytes;
    std::uint16_t close_code = 0;
  };

  WsClient(ClientLoop& loop, WsOptions options);

  void DoConnect(std::uint16_t port, std::string target);
  void FinishHandshake(const boost::beast::error_code& ec);
  void Enqueue(Outgoing item);
  void DoWrite();
  void DoRead();
  void OnRead(const boost::beast::error_code& ec, std::size_t bytes);
  void EndConnection(const boost::beast::error_code& ec);
  void Notify();  // bumps version_ and wakes waiters; caller holds mutex_

  WsOptions options_;

  // Loop-thread state.
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::websocket::response_type handshake_response_;
  boost::beast::flat_buffer read_buffer_;
  std::deque<Outgoing> write_queue_;
  bool writing_ = false;
  bool reading_ = false;
  bool open_ = false;        // handshake done and not ended
  bool close_sent_ = false;
  bool close_in_flight_ = false;

  // Shared state, guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t version_ = 0;
  bool handshake_done_ = false;
  int http_status_ = 0;
  std::string handshake_error_;
  std::vector<herald::v1::ServerMessage> messages_;
  std::vector<herald::v1::Event> events_;
  std::map<std::string, std::string> known_epochs_;  // topic -> epoch
  std::vector<herald::v1::Reply> replies_;
  std::optional<herald::v1::Disconnect> disconnect_;
  std::size_t frame_count_ = 0;
  std::size_t text_frame_count_ = 0;
  std::size_t parse_error_count_ = 0;
  std::uint64_t bytes_received_ = 0;
  bool ended_ = false;
  std::optional<std::uint16_t> close_code_;
  std::string close_reason_;
  std::string error_;
  std::string write_error_;
};

}  // namespace herald::testing
