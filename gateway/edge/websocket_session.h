// The WebSocket transport: binary protobuf commands in (handed to its Client), batched
// ServerMessages out. The session speaks the WebSocket protocol itself, so every byte it sends
// (events, replies, pings, pongs, the close) goes through its one queue and leaves in as few
// writes as possible.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/grant.h"
#include "edge/edge_context.h"
#include "edge/edge_stream.h"
#include "edge/outgoing_queue.h"
#include "edge/websocket_frames.h"
#include "herald/v1/websocket.pb.h"
#include "client/client.h"
#include "client/transport.h"

namespace herald {

class WebSocketSession final : public Transport,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  // The socket must belong to the loop of `shard`.
  WebSocketSession(EdgeStream stream, EdgeContext& context, size_t shard);
  ~WebSocketSession() override;

  // Completes the upgrade of `request` (one WebSocketUpgradeProblem accepts), creates the
  // connection's Client with `grant` (which governs its commands until it expires) and connects
  // it to `topics` (already validated and allowed). `early_bytes` are what the client sent after
  // its request, read along with it.
  void Run(boost::beast::http::request<boost::beast::http::string_body> request,
           std::vector<std::string> topics, Grant grant, ConnectionSlot slot,
           std::string_view early_bytes);

  // Transport (on the session's loop):
  TransportKind kind() const override { return TransportKind::kWebSocket; }
  Queued QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                    Subscriber::Delivery delivery) override;
  // At most: the epoch field may be added (tag, length, and a byte more of frame length).
  size_t ReplayCost(const EncodedEvent& event) const override {
    return event.ws_frame().size() + event.epoch().size() + 4;
  }
  size_t ReplayRoom() const override { return queue_.replay_room(); }
  bool QueueConnected(const herald::v1::Connected& connected) override;
  bool QueueReply(const herald::v1::Reply& reply) override;
  bool QueueUnsubscribed(const std::string& topic) override;
  std::string RemoteAddress() override { return stream_.RemoteAddress(); }
  uint64_t SentBytes() const override { return queue_.sent_bytes(); }
  void Flush() override;
  bool Close(const herald::Disconnect& disconnect) override;

  // When an asynchronous write or a wait for the socket ends (see WriteQueue).
  void OnWrite(boost::system::error_code error);
  // Once everything queued left (see WriteOut): after the close frame, ends the connection when
  // the close handshake is over.
  void AfterWrites();
  // Closes the socket at once.
  void EndConnection();

 private:
  void ReadNext();
  void OnRead(boost::system::error_code error, size_t bytes);
  // Handles what the peer sent; returns false when reading ends.
  bool HandleFrames();
  void HandleMessage(std::string_view payload, bool text);
  void OnPeerClose(uint16_t code);
  // Pings the peer every --ws_ping_interval; drops it after two intervals without a byte.
  void ScheduleLiveness();
  // Reads what the peer sends from now on (once).
  void StartReading();
  // Ends the connection through the client (so it is counted and told once).
  void Disconnect(const herald::Disconnect& disconnect);
  // Queues a control message under the queue limit (a client that does not read its replies
  // is a slow consumer too); false when it does not fit.
  bool QueueMessage(const herald::v1::ServerMessage& message);

  EdgeStream stream_;
  EdgeContext& context_;
  const size_t shard_;
  WsFrameReader reader_;
  OutgoingQueue queue_;
  std::shared_ptr<Client> client_;  // Set by Run.
  ConnectionSlot slot_;
  boost::asio::steady_timer liveness_timer_;
  std::optional<herald::Disconnect> closing_;  // Set once the server decided to close.
  bool close_sent_ = false;    // The close frame is queued: nothing may follow it.
  bool peer_closed_ = false;      // The peer sent its close frame.
  bool protocol_failed_ = false;  // The peer broke the protocol: its bytes are dropped.
  bool read_paused_ = false;      // Reading waits for a write to drain (see ReadNext).
  bool reading_started_ = false;  // After `connected` or a close (see StartReading).
  bool ended_ = false;         // The socket is closed.
  bool heard_from_peer_ = false;  // Since the last liveness check.
  bool ping_unanswered_ = false;  // A ping went out and the peer sent nothing since.
  boost::asio::steady_timer close_deadline_;
};

// Why `request` (a WebSocket upgrade) cannot be accepted, with the HTTP status to answer: the
// empty string when it can.
std::string WebSocketUpgradeProblem(
    const boost::beast::http::request<boost::beast::http::string_body>& request, int* status);

}  // namespace herald
