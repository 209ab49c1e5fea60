// Caps on open WebSocket and SSE connections and gRPC Subscribe streams: in total, per client
// address and per credential.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "owner_counts.h"

namespace herald {

class ConnectionLimits;

// One admitted connection's place under the caps, given back when destroyed. Move-only.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionSlot&& other) noexcept { *this = std::move(other); }
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
  ~ConnectionSlot() { Release(); }

 private:
  friend class ConnectionLimits;
  ConnectionSlot(ConnectionLimits* limits, std::string ip, std::string credential)
      : limits_(limits), ip_(std::move(ip)), credential_(std::move(credential)) {}
  void Release();

  ConnectionLimits* limits_ = nullptr;
  std::string ip_;
  std::string credential_;  // Empty: not counted per credential.
};

// A connection accepted and not admitted yet (its TLS handshake, its request being read, a
// plain HTTP exchange): its place under --max_pending_connections and its address's share,
// given back when destroyed. Move-only; an empty one holds nothing.
class PendingSlot {
 public:
  PendingSlot() = default;
  PendingSlot(PendingSlot&& other) noexcept { *this = std::move(other); }
  PendingSlot& operator=(PendingSlot&& other) noexcept;
  ~PendingSlot() { Release(); }
  void Release();

 private:
  friend class ConnectionLimits;
  PendingSlot(ConnectionLimits* limits, std::string ip) : limits_(limits), ip_(std::move(ip)) {}

  ConnectionLimits* limits_ = nullptr;
  std::string ip_;
};

// The caps; zero means no cap.
struct ConnectionCaps {
  size_t total = 0;           // --max_connections
  size_t per_ip = 0;          // --max_connections_per_ip
  size_t per_credential = 0;  // --max_connections_per_credential
  size_t pending = 0;         // --max_pending_connections
};

// Thread-safe.
class ConnectionLimits {
 public:
  explicit ConnectionLimits(ConnectionCaps caps) : caps_(caps) {}

  // A place for a connection just accepted from `ip` (its ClientAddressBucket); nullopt when
  // --max_pending_connections are already waiting to be admitted, or --max_connections_per_ip
  // from that address (the connection is then closed at once: a flood of handshakes or slow
  // requests must not take the event loops' time, nor the pending places, from others). A
  // trusted proxy (--trusted_proxies) carries many clients: its address is not capped here.
  std::optional<PendingSlot> AcquirePending(const std::string& ip, bool trusted_proxy = false);
  size_t pending() const;

  // UNAVAILABLE when the gateway holds its maximum (HTTP 503), RESOURCE_EXHAUSTED when `ip` or
  // `credential` does (HTTP 429). `ip`: the client's ClientAddressBucket; `credential`: its
  // grant's CredentialKey (empty: not counted).
  absl::StatusOr<ConnectionSlot> Acquire(const std::string& ip,
                                         const std::string& credential = "");

  size_t total() const;

 private:
  friend class ConnectionSlot;
  friend class PendingSlot;
  void Release(const std::string& ip, const std::string& credential);
  void ReleasePending(const std::string& ip);

  const ConnectionCaps caps_;
  mutable absl::Mutex mutex_;
  size_t pending_ ABSL_GUARDED_BY(mutex_) = 0;
  OwnerCounts pending_per_ip_ ABSL_GUARDED_BY(mutex_);
  size_t total_ ABSL_GUARDED_BY(mutex_) = 0;
  OwnerCounts per_ip_ ABSL_GUARDED_BY(mutex_);
  OwnerCounts per_credential_ ABSL_GUARDED_BY(mutex_);
};

// What --max_connections_per_ip counts a client address under: an IPv4 address (also when it
// comes IPv4-mapped), or the /64 an IPv6 address is in (one host is commonly given a whole /64,
// so a per-/128 cap would not cap it at all).
std::string ClientAddressBucket(const boost::asio::ip::address& address);

// The ClientAddressBucket of a gRPC peer ("ipv4:10.0.0.1:5000", "ipv6:[2001:db8::1]:5000", or
// with the brackets percent-encoded as gRPC writes them since 1.48), without the port; any other
// kind of peer (a Unix socket) as it is.
std::string GrpcPeerBucket(const std::string& peer);
// A gRPC peer as `ip:port` (`[ip]:port` for IPv6), or the peer as given when it is not an IP.
std::string GrpcPeerAddress(const std::string& peer);

}  // namespace herald
