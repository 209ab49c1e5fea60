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
  // The client it names; empty for a header that names none (v1 UNKNOWN, v2 LOCAL, or an
  // address family other than TCP over IPv4 / IPv6).
  std::optional<boost::asio::ip::address> source;
  // A v2 LOCAL header: the balancer's own connection (a health check), not a client's.
  bool local = false;
};

// The longest header taken: v1's 107 bytes, or v2's 16 and 4 KiB of addresses and TLVs (an
// authority, TLS details, a unique id).
inline constexpr size_t kMostProxyHeaderBytes = 16 + 4096;

// Reads a PROXY header at the start of `bytes` (what the connection sent so far).
ProxyHeader ParseProxyHeader(std::string_view bytes);

}  // namespace herald
