// One connected client, whatever its transport: identity and grant, subscriptions and positions,
// commands and their replies, recovery, and the one way it is disconnected.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/authenticator.h"
#include "auth/grant.h"
#include "client/client_registry.h"
#include "client/transport.h"
#include "config/config.h"
#include "herald/v1/websocket.pb.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "publish/join_leave.h"
#include "publish/publish_pipeline.h"
#include "publish/rate_limiter.h"

namespace herald {

// What every client needs from the rest of the gateway.
struct ClientContext {
  const Config& config;
  Hub& hub;
  PublishPipeline& publish;
  const Authenticator& authenticator;
  Metrics& metrics;
  ClientRegistry& registry;  // Every client is in it from creation to End.
  JoinLeave& join_leave;     // Told when a client starts or stops following a topic.
  // Set once SIGTERM arrives: a client that becomes live then is closed with 1001 at once.
  const std::atomic<bool>& draining;
};

// Lives on one event loop (its hub shard's); every method is called there
// (HERALD_ASSERT_ON_LOOP). Lifetime: shared. The front end that accepts the connection creates
// it with std::make_shared and holds it; each asynchronous step of the client (a subscribe, a
// publish, a timer) holds it too. The transport outlives nothing: when the connection ends it
// calls End(), which detaches the client from the hub, stops its timers and forgets the
// transport, so late completions find no transport and do nothing.
//
// Closing: live → closing (Disconnect called: the transport was told why and closes) → ended
// (End called). Events, replies and commands after Disconnect are dropped.
class Client final : public Subscriber, public std::enable_shared_from_this<Client> {
 public:
  Client(ClientContext& context, size_t shard, boost::asio::io_context& loop, Grant grant,
         Transport& transport);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& id() const { return id_; }
  // The loop the client lives on (its methods are called there).
  boost::asio::io_context& loop() const { return loop_; }
  const Grant& grant() const { return grant_; }
  TransportKind transport_kind() const { return kind_; }
  absl::Time connected_at() const { return connected_at_; }
  const std::string& remote_address() const { return remote_address_; }
  // The topics followed (connect-time ones in the order given, then by subscribe command) and,
  // in the same order, the position of the last event of each passed to the transport (or
  // where the client starts when none was yet): kept only for transports that name positions
  // (Transport::names_positions), empty otherwise.
  const std::vector<std::string>& topics() const { return topics_; }
  const std::vector<TopicPosition>& positions() const { return positions_; }

  // Subscribes the connect-time `topics` (valid and allowed by the grant), then queues
  // `connected` on the transport; a topic refused (the topic cap, an engine outage) then closes
  // the client with DisconnectFor(its status), and so does a drain that began meanwhile (1001).
  // Starts the expiry of the grant.
  void Connect(std::vector<TopicRequest> topics);

  // One command of a transport that takes commands (WebSocket); answered with one Reply each.
  void HandleCommand(const herald::v1::ClientMessage& message);

  // Server side (Admin.Unsubscribe): unsubscribes `topic` (also a subscribe in progress) and
  // tells the client (Transport::QueueUnsubscribed). Returns whether it was followed; false for
  // a client whose connect-time topics are not answered yet.
  bool Unsubscribe(absl::string_view topic);

  // Tells the client why and closes its transport (once; later calls do nothing).
  void Disconnect(const herald::Disconnect& disconnect);

  // The transport is going: detaches from the hub; nothing reaches the transport any more. Its
  // disconnect line is logged.
  // Called by the transport on the loop just before it is destroyed (the sessions' destructors,
  // the gRPC call's deletion posted by OnDone), never from within a call of the hub's:
  // detaching changes the subscriptions the hub may be walking.
  void End();

  // Subscriber (called by the hub on the client's loop):
  void Enqueue(const std::shared_ptr<const EncodedEvent>& event, Delivery delivery) override;
  size_t ReplayCost(const EncodedEvent& event) const override;
  size_t ReplayRoom() const override;
  void Flush() override;
  void Close(const herald::Disconnect& disconnect) override { Disconnect(disconnect); }
  const std::string& credential() const override { return credential_; }

  // The transport ended the connection on its own (a peer gone, a write timeout): the client is
  // no longer live, and nothing more is counted or sent.
  void TransportClosed() { disconnected_ = true; }
  // The client closed the connection with `code` (a WebSocket close frame): what its disconnect
  // line says, unless the gateway had closed it first.
  void ClosedByPeer(uint16_t code);
  // The transport is cutting the connection for `disconnect`'s reason without a word to the
  // peer (a write stalled past --write_timeout): counted and logged as that close.
  void CutOff(const herald::Disconnect& disconnect);

 private:
  // The connection's "connect" or "disconnect" log line.
  void LogConnection(std::string_view what);

  // A subscribe command not answered yet.
  struct PendingSubscribe {
    std::string topic;
    uint32_t command_id;
    uint64_t serial;  // Tells it from a later subscribe to the same topic.
    bool recovering;  // It continues from a position.
  };

  void OnConnected(std::vector<absl::StatusOr<SubscribedTopic>> results,
                   const std::vector<TopicRequest>& requests);
  void Subscribe(uint32_t id, const herald::v1::SubscribeCommand& command);
  void OnSubscribed(uint64_t serial, absl::StatusOr<SubscribedTopic> result);
  void UnsubscribeCommand(uint32_t id, const herald::v1::UnsubscribeCommand& command);
  // Stops following `topic`, or cancels its subscribe in progress (answered CANCELLED); tells
  // the client nothing else. Returns whether there was either.
  bool LeaveTopic(absl::string_view topic);
  void Publish(uint32_t id, const herald::v1::PublishRequest& request);
  void Refresh(uint32_t id, const herald::v1::RefreshCommand& command);
  // Closes with 4401 when the grant expires (unless a refresh replaced it first).
  void ScheduleExpiry();
  void CancelExpiry();
  void AddTopic(const std::string& topic, const TopicPosition& position);
  // The topic is followed now: its subscribers hear of it when its rule says join_leave.
  void Joined(const std::string& topic);
  // And no longer: they hear of that too (when they heard of the join).
  void Left(absl::string_view topic);
  // Index of `topic` in topics_, or topics_.size().
  size_t TopicIndex(absl::string_view topic) const;
  void SendReply(const herald::v1::Reply& reply);
  void SendError(uint32_t id, const absl::Status& status);
  // Whether the transport may still be given anything.
  bool live() const { return transport_ != nullptr && !disconnected_; }

  // What every delivery reads comes first, in the object's first cache line (the hub walks
  // a topic's clients one after the other).
  ClientContext& context_;
  Transport* transport_;  // Null once End ran.
  const size_t shard_;
  const TransportKind kind_;
  // Positions only for transports that name them (Transport::names_positions): no work per
  // delivery for the others.
  const bool tracks_positions_;
  bool disconnected_ = false;  // Disconnect or TransportClosed happened.
  bool connected_ = false;     // `connected` was queued: the connect-time topics are answered.
  // What the disconnect line says: how it ended (code 0: the client went away without saying),
  // and the events queued to it.
  uint16_t close_code_ = 0;
  std::string close_reason_;
  uint64_t events_delivered_ = 0;
  std::vector<std::string> topics_;
  std::vector<TopicPosition> positions_;

  boost::asio::io_context& loop_;
  const std::string id_;
  const absl::Time connected_at_;
  const std::string remote_address_;
  Grant grant_;
  const std::string credential_;  // grant_.CredentialKey(); a refresh keeps the same `sub`.
  RateLimiter command_limiter_;
  // Commands refused by the limiter since the last one it let through.
  size_t refused_in_a_row_ = 0;
  std::vector<PendingSubscribe> pending_subscribes_;
  // Topics whose subscribers were told of the join (the leave follows).
  std::vector<std::string> announced_;
  uint64_t next_serial_ = 1;
  // The connect line was written (the disconnect line follows).
  bool logged_connect_ = false;
  std::unique_ptr<boost::asio::steady_timer> expiry_timer_;  // Made when the grant expires.
};

// The close for a request refused with `status`: 1013 (try again later) for temporary failures
// (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED), 4429 for RESOURCE_EXHAUSTED, 4403 for
// PERMISSION_DENIED, 4401 for UNAUTHENTICATED, 4400 otherwise; the status's message is the
// reason.
herald::Disconnect DisconnectFor(const absl::Status& status);

// "websocket", "sse" or "grpc", as the Admin API and the logs name transports (metrics label
// them as TransportLabel does, as they have since the first release).
const char* TransportName(TransportKind kind);

// The wire form of a subscribed topic.
herald::v1::SubscribeResult SubscribeResultProto(const SubscribedTopic& topic);

}  // namespace herald
