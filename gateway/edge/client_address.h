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

// `address`, with an IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it carries.
boost::asio::ip::address WithoutV4Mapping(const boost::asio::ip::address& address);

// Which header a trusted proxy names its client in (--forwarded_header). Only one is read: a
// proxy that writes one passes the other through as the client sent it.
enum class ForwardingHeader {
  kXForwardedFor,  // X-Forwarded-For: 203.0.113.7, 10.0.0.9
  kForwarded,      // Forwarded: for=203.0.113.7;proto=https, for=10.0.0.9 (RFC 7239)
};

// The header's name on the wire.
const char* ForwardingHeaderName(ForwardingHeader header);

// The client's address for a request that came from `peer` (without IPv4 mapping): `peer`
// itself, unless it is a trusted
// proxy; then the nearest hop of the forwarding chain `chain` (the header's lines joined with
// commas), read right to left, that is not a trusted proxy itself (or the first of the chain when
// all are). A hop that is not an address (malformed, `unknown`, an obfuscated name, a Forwarded
// element without `for=`) met before that stops the walk: the peer stands.
boost::asio::ip::address ClientAddress(const boost::asio::ip::address& peer,
                                       std::string_view chain, ForwardingHeader header,
                                       const TrustedProxies& trusted);

}  // namespace herald
