// A Server-Sent Events client: a chunked text/event-stream response that stays open.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edge/edge_context.h"
#include "edge/outgoing_queue.h"
#include "hub/transport.h"

namespace herald {

class SseSession final : public Transport, public std::enable_shared_from_this<SseSession> {
 public:
  // The stream must belong to the loop of `shard`.
  SseSession(boost::beast::tcp_stream stream, EdgeContext& context, size_t shard);
  ~SseSession() override;

  // Answers `request` with the event stream and subscribes `topics` (already validated).
  void Run(const boost::beast::http::request<boost::beast::http::string_body>& request,
           std::vector<std::string> topics);

  // Transport (on the session's loop):
  void Enqueue(const std::shared_ptr<const EncodedEvent>& event) override;
  void Flush() override;
  void Close(const Disconnect& disconnect) override;

 private:
  void WatchPeer();
  void SchedulePing();
  void Push(std::shared_ptr<const std::string> bytes);
  void OnWrite(boost::beast::error_code error, size_t bytes);
  void Shutdown();

  boost::beast::tcp_stream stream_;
  EdgeContext& context_;
  const size_t shard_;
  const std::string client_id_;
  OutgoingQueue queue_;
  std::vector<boost::asio::const_buffer> chunk_;  // The write's buffers inside chunk framing.
  std::string chunk_header_;
  std::array<char, 512> peer_bytes_;  // Whatever the client sends is read and ignored.
  bool attached_ = false;
  bool wrote_since_ping_ = false;
  bool ended_ = false;
  std::optional<Disconnect> closing_;
  boost::asio::steady_timer ping_timer_;
  boost::asio::steady_timer close_deadline_;
};

}  // namespace herald
