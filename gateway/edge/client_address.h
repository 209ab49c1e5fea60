// Client addresses behind reverse proxies: --trusted_proxies, and the address a trusted proxy
// forwards in X-Forwarded-For or Forwarded (RFC 7239).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace herald {

// The networks whose connections are proxies that say who their client is. Immutable.
class TrustedProxies {
 public:
  TrustedProxies() = default;

  // A comma-separated list of addresses and CIDR networks ("10.0.0.0/8,::1"); INVALID_ARGUMENT
  // naming the entry that is neither.
  static absl::StatusOr<TrustedProxies> Parse(std::string_view list);

  // True when `address` (IPv4-mapped IPv6 taken as IPv4) is in one of the networks.
  bool Contains(const boost::asio::ip::address& address) const;
  bool empty() const { return networks_.empty(); }
  // The list as given, for the configuration line.
  const std::string& text() const { return text_; }

 private:
  struct Network {
    boost::asio::ip::address address;
    unsigned prefix = 0;
  };
  std::vector<Network> networks_;
  std::string text_;
};

// The client's address for a request that came from `peer`: `peer` itself, unless it is a trusted
// proxy; then the nearest address of the forwarding chain (X-Forwarded-For, or else Forwarded's
// `for=`), read right to left, that is not a trusted proxy itself (or the first of the chain when
// all are). A chain with an entry that is not an address (malformed, `unknown`, an obfuscated
// name) is ignored: the peer stands.
boost::asio::ip::address ClientAddress(const boost::asio::ip::address& peer,
                                       std::string_view x_forwarded_for,
                                       std::string_view forwarded,
                                       const TrustedProxies& trusted);

}  // namespace herald
