// What differs between the ways a client is connected (WebSocket, SSE, a gRPC Subscribe call):
// how its messages are encoded and written, and how the connection closes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "herald/v1/websocket.pb.h"
#include "hub/subscriber.h"
#include "metrics/metrics.h"

namespace herald {

class EncodedEvent;

// Implemented by WebSocketSession, SseSession and the gRPC Subscribe call. Every method is
// called on the client's loop (HERALD_ASSERT_ON_LOOP in each implementation says so). A
// transport has no read side here: what a WebSocket peer sends, the session decodes and hands
// to its Client.
class Transport {
 public:
  virtual ~Transport() = default;

  // Its name in metrics and logs.
  virtual TransportKind kind() const = 0;
  // Whether its encoding names the client's positions (SSE's `id:` line): only then does the
  // client keep them up to date with every event.
  virtual bool names_positions() const { return false; }

  // What became of an event given to QueueEvent.
  enum class Queued {
    kYes,      // Queued: it counts as delivered.
    kDropped,  // Dropped: the connection is closing anyway.
    kNoRoom,   // No room for it: the client closes as a slow consumer.
  };
  // Queues one event in this transport's encoding. The client's positions already count it
  // (Client::positions: SSE names them all in its `id:` line).
  virtual Queued QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                            Subscriber::Delivery delivery) = 0;
  // Bytes replaying `event` would queue, and the bytes of replay the queue can still take.
  virtual size_t ReplayCost(const EncodedEvent& event) const = 0;
  virtual size_t ReplayRoom() const = 0;

  // The answer to the connect-time topics (those subscribed; a refused one closes the client
  // right after). False when there was no room.
  virtual bool QueueConnected(const herald::v1::Connected& connected) = 0;
  // The answer to a command (only transports that take commands are given any). False when
  // there was no room.
  virtual bool QueueReply(const herald::v1::Reply& reply) = 0;

  // Tells the client the server took `topic` off it (Admin.Unsubscribe), in this transport's
  // form; a transport with no such message (gRPC) just stops delivering it. False when there
  // was no room.
  virtual bool QueueUnsubscribed(const std::string& topic) = 0;
  // The peer's address ("203.0.113.7:51234", "[2001:db8::1]:443"), empty when unknown.
  virtual std::string RemoteAddress() = 0;
  // Bytes handed to the connection so far (for its disconnect log line).
  virtual uint64_t SentBytes() const = 0;

  // Writes what is queued, unless a write is in flight (then it follows when that completes).
  virtual void Flush() = 0;
  // Tells the peer why in this transport's form, then closes; nothing queued after is sent. A
  // slow consumer's backlog is dropped first, anything else queued still goes out. Returns
  // false, doing nothing, when the connection is already closing or gone.
  virtual bool Close(const Disconnect& disconnect) = 0;
};

}  // namespace herald
