// Fuzzes what a proxy in front of the gateway sends about its client: the PROXY protocol header
// (v1 and v2) at the start of a connection, and X-Forwarded-For / Forwarded. Every input is
// tried as all three.
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "edge/client_address.h"
#include "edge/proxy_header.h"
#include "fuzz_check.h"

namespace herald::fuzz {
namespace {

void ParseHeader(std::string_view input) {
  ProxyHeader header = ParseProxyHeader(input);
  switch (header.kind) {
    case ProxyHeader::Kind::kHeader:
      // A whole header, within what the connection sent and the protocol's longest.
      HERALD_FUZZ_CHECK(header.size > 0 && header.size <= input.size());
      HERALD_FUZZ_CHECK(header.size <= kMostProxyHeaderBytes);
      // The bytes after it are the connection's: the header does not change with them.
      HERALD_FUZZ_CHECK(ParseProxyHeader(input.substr(0, header.size)).size == header.size);
      return;
    case ProxyHeader::Kind::kIncomplete:
      // More is asked for only while the header could still fit.
      HERALD_FUZZ_CHECK(input.size() < kMostProxyHeaderBytes);
      return;
    case ProxyHeader::Kind::kNone:
    case ProxyHeader::Kind::kMalformed:
      HERALD_FUZZ_CHECK(!header.source.has_value());
      return;
  }
}

void ReadForwarding(std::string_view input) {
  static const TrustedProxies trusted = *TrustedProxies::Parse("10.0.0.0/8,2001:db8::/32");
  const boost::asio::ip::address proxy = boost::asio::ip::make_address("10.1.2.3");
  const boost::asio::ip::address stranger = boost::asio::ip::make_address("198.51.100.1");
  // From a peer that is not trusted, nothing the headers say is taken.
  HERALD_FUZZ_CHECK(ClientAddress(stranger, input, ForwardingHeader::kXForwardedFor, trusted) ==
                    stranger);
  HERALD_FUZZ_CHECK(ClientAddress(stranger, input, ForwardingHeader::kForwarded, trusted) ==
                    stranger);
  (void)ClientAddress(proxy, input, ForwardingHeader::kXForwardedFor, trusted);
  (void)ClientAddress(proxy, input, ForwardingHeader::kForwarded, trusted);
  (void)TrustedProxies::Parse(input);
}

}  // namespace
}  // namespace herald::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  herald::fuzz::ParseHeader(input);
  herald::fuzz::ReadForwarding(input);
  return 0;
}
