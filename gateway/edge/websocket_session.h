// A WebSocket client: binary protobuf commands in, batched ServerMessages out.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/grant.h"
#include "edge/edge_context.h"
#include "edge/edge_stream.h"
#include "edge/outgoing_queue.h"
#include "edge/rate_limiter.h"
#include "herald/v1/websocket.pb.h"
#include "hub/transport.h"

namespace herald {

class WebSocketSession final : public Transport,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  // The socket must belong to the loop of `shard`.
  WebSocketSession(EdgeStream stream, EdgeContext& context, size_t shard);
  ~WebSocketSession() override;

  // Completes the upgrade of `request` and subscribes `topics` (already validated and allowed
  // by `grant`, which then governs the connection's commands until it expires).
  void Run(boost::beast::http::request<boost::beast::http::string_body> request,
           std::vector<std::string> topics, Grant grant, ConnectionSlot slot);

  // Transport (on the session's loop):
  void Enqueue(const std::shared_ptr<const EncodedEvent>& event) override;
  void EnqueueReplayed(const std::shared_ptr<const EncodedEvent>& event) override;
  size_t ReplayCost(const EncodedEvent& event) const override { return event.ws_frame().size(); }
  size_t ReplayRoom() const override { return queue_.replay_room(); }
  void Flush() override;
  void Close(const Disconnect& disconnect) override;

 private:
  void OnAccept(boost::beast::error_code error, std::vector<std::string> topics);
  void QueueEvent(const std::shared_ptr<const EncodedEvent>& event, bool replayed);
  void OnConnected(std::vector<absl::StatusOr<herald::v1::SubscribeResult>> results);
  void ReadNext();
  void OnRead(boost::beast::error_code error, size_t bytes);
  void HandleCommand(const herald::v1::ClientMessage& message);
  void Subscribe(uint32_t id, const herald::v1::SubscribeCommand& command);
  void Unsubscribe(uint32_t id, const herald::v1::UnsubscribeCommand& command);
  void Publish(uint32_t id, const herald::v1::PublishRequest& request);
  void Refresh(uint32_t id, const herald::v1::RefreshCommand& command);
  // Closes with 4401 when the grant expires (unless a refresh replaced it first).
  void ScheduleExpiry();
  void SendReply(herald::v1::Reply reply);
  void SendError(uint32_t id, const absl::Status& status);
  // Queues a control message under the queue limit (a client that does not read its replies
  // is a slow consumer too).
  void Send(const herald::v1::ServerMessage& message);
  void OnWrite(boost::beast::error_code error, size_t bytes);
  void StartClose();
  void OnClose(boost::beast::error_code error);
  void EndConnection();

  boost::beast::websocket::stream<EdgeStream> ws_;
  EdgeContext& context_;
  const size_t shard_;
  const std::string client_id_;
  boost::beast::flat_buffer read_buffer_;
  OutgoingQueue queue_;
  RateLimiter command_limiter_;
  Grant grant_;
  ConnectionSlot slot_;
  boost::asio::steady_timer expiry_timer_;
  // Commands refused by the limiter since the last one it let through.
  size_t refused_in_a_row_ = 0;
  bool attached_ = false;
  std::optional<Disconnect> closing_;  // Set once the server decided to close.
  bool close_started_ = false;
  boost::asio::steady_timer close_deadline_;
};

}  // namespace herald
