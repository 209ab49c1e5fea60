// The Server-Sent Events transport: a chunked text/event-stream response that stays open.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edge/edge_context.h"
#include "auth/grant.h"
#include "edge/edge_stream.h"
#include "edge/outgoing_queue.h"
#include "herald/v1/websocket.pb.h"
#include "hub/hub.h"
#include "client/client.h"
#include "client/transport.h"

namespace herald {

class SseSession final : public Transport, public std::enable_shared_from_this<SseSession> {
 public:
  // The stream must belong to the loop of `shard`.
  SseSession(EdgeStream stream, EdgeContext& context, size_t shard);
  ~SseSession() override;

  // Answers `request` with the event stream and connects a Client with `grant` to `topics`
  // (already validated), resuming every topic from `resume_token` (the Last-Event-ID) when it is
  // valid for them. The stream ends with `herald.disconnect` 4401 when `grant` expires: the
  // browser reconnects with its fresh cookie or URL.
  void Run(const boost::beast::http::request<boost::beast::http::string_body>& request,
           std::vector<std::string> topics, std::string_view resume_token, Grant grant,
           ConnectionSlot slot);

  // Transport (on the session's loop):
  TransportKind kind() const override { return TransportKind::kSse; }
  bool names_positions() const override { return true; }
  Queued QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                    Subscriber::Delivery delivery) override;
  size_t ReplayCost(const EncodedEvent& event) const override;
  size_t ReplayRoom() const override { return queue_.replay_room(); }
  bool QueueConnected(const herald::v1::Connected& connected) override;
  // SSE takes no commands: never called.
  bool QueueReply(const herald::v1::Reply&) override { return true; }
  bool QueueUnsubscribed(const std::string& topic) override;
  std::string RemoteAddress() override { return stream_.RemoteAddress(); }
  uint64_t SentBytes() const override { return queue_.sent_bytes(); }
  void Flush() override;
  bool Close(const Disconnect& disconnect) override;

  // When an asynchronous write or a wait for the socket ends (see WriteQueue).
  void OnWrite(boost::system::error_code error);
  // Once everything queued left (see WriteOut): after the close's last words, the end.
  void AfterWrites();
  // Closes the socket at once.
  void EndConnection();

 private:
  void WatchPeer();
  void SchedulePing();
  // Queues a control frame under the queue limit; false when it does not fit.
  bool Push(std::shared_ptr<const std::string> bytes);

  EdgeStream stream_;
  EdgeContext& context_;
  const size_t shard_;
  OutgoingQueue queue_;
  // Set by Run. Its topics are the URL's, in order; its positions, every event's `id:` (the
  // resume token encodes them all).
  std::shared_ptr<Client> client_;
  std::string id_line_;  // The `id:` line being queued (reused: no allocation per event).
  ConnectionSlot slot_;
  bool chunked_ = true;
  bool wrote_since_ping_ = false;
  std::chrono::steady_clock::time_point write_started_;
  bool ended_ = false;
  std::optional<Disconnect> closing_;
  boost::asio::steady_timer ping_timer_;
  boost::asio::steady_timer close_deadline_;
};

}  // namespace herald
