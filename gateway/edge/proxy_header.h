// The PROXY protocol (HAProxy's, v1 text and v2 binary): the header a load balancer puts before
// a connection's first byte to say whose connection it is.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <optional>
#include <string_view>

namespace herald {

struct ProxyHeader {
  enum class Kind {
    kNone,        // The connection does not start with a PROXY header.
    kIncomplete,  // It may: more bytes are needed to tell.
    kMalformed,   // It starts like one and is not one.
    kHeader,      // A whole header, `size` bytes long.
  };
  Kind kind = Kind::kNone;
  size_t size = 0;
  // The client it names; empty for a header that names none (v1 UNKNOWN, v2 LOCAL such as a
  // health check, or an address family other than TCP over IPv4 / IPv6).
  std::optional<boost::asio::ip::address> source;
};

// Reads a PROXY header at the start of `bytes` (what the connection sent so far). The longest
// header taken is 107 bytes (v1) or 16 + 216 (v2).
ProxyHeader ParseProxyHeader(std::string_view bytes);

}  // namespace herald
