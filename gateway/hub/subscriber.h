// The hub's view of a client: where pre-encoded events are queued and flushed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace herald {

class EncodedEvent;

// Why the server ends a connection. `code` is a WebSocket close code (4000 + HTTP status for
// Herald's own reasons); SSE and gRPC clients see the same code and reason in their own form.
struct Disconnect {
  Disconnect() = default;
  Disconnect(uint16_t code, std::string reason,
             std::optional<absl::StatusCode> status = std::nullopt)
      : code(code), reason(std::move(reason)), status(status) {}

  uint16_t code = 0;
  std::string reason;
  // The failure it stands for, when it was one (DisconnectFor): a gRPC client is told that
  // status itself rather than one mapped back from `code`.
  std::optional<absl::StatusCode> status;
  // How long the client is asked to wait before it reconnects (a drain spreads the reconnects
  // of a node's clients); zero suggests nothing.
  absl::Duration reconnect_after = absl::ZeroDuration();
};

inline const Disconnect kDisconnectShutdown{1001, "shutdown"};
inline const Disconnect kDisconnectBadRequest{4400, "bad request"};
inline const Disconnect kDisconnectTokenExpired{4401, "token expired"};
inline const Disconnect kDisconnectCredentialRevoked{4401, "credential revoked"};
inline const Disconnect kDisconnectSlowConsumer{4408, "slow consumer"};
inline const Disconnect kDisconnectRateLimited{4429, "rate limited"};
// Events of a followed topic were lost before they reached this node (a shared engine could
// not read them back): the client reconnects, and its resubscribe says recovered=false.
inline const Disconnect kDisconnectEventsLost{1012, "events lost: reconnect"};
// A temporary failure (the engine is unreachable): the client should try again later, unlike
// the 44xx codes, which a client may take as final.
inline const Disconnect kDisconnectTryAgainLater{1013, "try again later"};

// A client as the hub sees it. Implemented by Client (client/client.h), whatever its transport.
// Every call happens on the event loop thread that owns the subscriber (its shard); the hub
// holds raw pointers, so a subscriber detaches itself from the hub before it is destroyed.
class Subscriber {
 public:
  virtual ~Subscriber() = default;

  // How an event reaches a subscription.
  struct Delivery {
    // Replayed from history. It does not count toward the queue limit: its bytes are shared
    // with the history, and a replay goes out whole in the next write (a limit here would cut
    // off every client whose gap is larger than its queue, again at each reconnect).
    bool replayed = false;
    // The first event of an epoch the client has not been told (by its subscribe answer, its
    // own resume position or an earlier event): this one carries its epoch, the others leave
    // it out (EpochField).
    bool new_epoch = false;
  };

  // Queues one event. When a live event would pass the queue's byte limit, the subscriber drops
  // what is pending and closes itself with kDisconnectSlowConsumer instead.
  virtual void Enqueue(const std::shared_ptr<const EncodedEvent>& event, Delivery delivery) = 0;

  // Bytes replaying `event` would queue here, in this subscriber's own encoding.
  virtual size_t ReplayCost(const EncodedEvent& event) const = 0;
  // Bytes of replay this subscriber can still take; a subscribe whose replay would not fit is
  // answered recovered=false rather than cut off as a slow consumer after saying it recovered.
  virtual size_t ReplayRoom() const = 0;

  // Writes everything queued in one write, unless a write is already in flight (then the
  // queue goes out when it completes).
  virtual void Flush() = 0;

  // Tells the client why and closes. Events queued after this are dropped.
  virtual void Close(const Disconnect& disconnect) = 0;

  // Who the client is, for per-credential shares of engine state (Grant::CredentialKey; empty:
  // nobody in particular).
  virtual const std::string& credential() const = 0;
};

}  // namespace herald
