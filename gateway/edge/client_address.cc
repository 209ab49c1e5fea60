// Client addresses behind reverse proxies.
#include "edge/client_address.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace herald {
namespace {

namespace ip = boost::asio::ip;

std::optional<ip::address> ParseAddress(absl::string_view text) {
  boost::system::error_code error;
  ip::address address = ip::make_address(std::string(text), error);
  if (error) return std::nullopt;
  return WithoutV4Mapping(address);
}

// One hop of a forwarding chain: "203.0.113.7", "203.0.113.7:5000", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:5000"; RFC 7239 quotes are taken off first.
std::optional<ip::address> ParseHop(absl::string_view hop) {
  hop = absl::StripAsciiWhitespace(hop);
  if (hop.size() >= 2 && hop.front() == '"' && hop.back() == '"') hop = hop.substr(1, hop.size() - 2);
  if (absl::StartsWith(hop, "[")) {
    size_t close = hop.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    absl::string_view rest = hop.substr(close + 1);
    uint32_t port = 0;
    if (!rest.empty() && !(absl::ConsumePrefix(&rest, ":") && absl::SimpleAtoi(rest, &port))) {
      return std::nullopt;
    }
    return ParseAddress(hop.substr(1, close - 1));
  }
  if (std::optional<ip::address> address = ParseAddress(hop)) return address;
  // An IPv4 address with a port.
  size_t colon = hop.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(hop.substr(colon + 1), &port)) {
    return std::nullopt;
  }
  std::optional<ip::address> address = ParseAddress(hop.substr(0, colon));
  if (!address || !address->is_v4()) return std::nullopt;
  return address;
}

std::vector<unsigned char> Bytes(const ip::address& address) {
  if (address.is_v4()) {
    ip::address_v4::bytes_type bytes = address.to_v4().to_bytes();
    return {bytes.begin(), bytes.end()};
  }
  ip::address_v6::bytes_type bytes = address.to_v6().to_bytes();
  return {bytes.begin(), bytes.end()};
}

// Whether the first `prefix` bits of `address` are those of `network` (same family).
bool InNetwork(const std::vector<unsigned char>& network, const std::vector<unsigned char>& address,
               unsigned prefix) {
  for (size_t i = 0; prefix > 0; ++i) {
    unsigned bits = std::min(prefix, 8u);
    auto mask = static_cast<unsigned char>(0xFF << (8 - bits));
    if ((network[i] & mask) != (address[i] & mask)) return false;
    prefix -= bits;
  }
  return true;
}

// The `for=` value of each element of a Forwarded header, in order; empty for an element that
// has none.
std::vector<absl::string_view> ForwardedFor(absl::string_view header) {
  std::vector<absl::string_view> hops;
  for (absl::string_view element : absl::StrSplit(header, ',')) {
    absl::string_view hop;
    for (absl::string_view pair : absl::StrSplit(element, ';')) {
      pair = absl::StripAsciiWhitespace(pair);
      if (pair.size() > 4 && absl::EqualsIgnoreCase(pair.substr(0, 4), "for=")) hop = pair.substr(4);
    }
    hops.push_back(hop);
  }
  return hops;
}

}  // namespace

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(std::string_view text) {
  TrustedProxies trusted;
  trusted.text_ = std::string(text);
  absl::string_view list(text.data(), text.size());
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    absl::string_view address_text = entry;
    std::optional<unsigned> prefix;
    if (size_t slash = entry.find('/'); slash != absl::string_view::npos) {
      address_text = entry.substr(0, slash);
      unsigned bits = 0;
      prefix = absl::SimpleAtoi(entry.substr(slash + 1), &bits) ? bits : 999;  // 999: not a number.
    }
    std::optional<ip::address> address = ParseAddress(address_text);
    unsigned most = address && address->is_v4() ? 32 : 128;
    if (!address || (prefix && *prefix > most)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--trusted_proxies: '", entry, "' is not an address or a network such as 10.0.0.0/8"));
    }
    trusted.networks_.push_back({*address, prefix.value_or(most)});
  }
  return trusted;
}

bool TrustedProxies::Contains(const ip::address& raw) const {
  ip::address address = WithoutV4Mapping(raw);
  std::vector<unsigned char> bytes = Bytes(address);
  for (const Network& network : networks_) {
    if (network.address.is_v4() == address.is_v4() &&
        InNetwork(Bytes(network.address), bytes, network.prefix)) {
      return true;
    }
  }
  return false;
}

ip::address WithoutV4Mapping(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

const char* ForwardingHeaderName(ForwardingHeader header) {
  return header == ForwardingHeader::kForwarded ? "Forwarded" : "X-Forwarded-For";
}

ip::address ClientAddress(const ip::address& peer, std::string_view chain_text,
                          ForwardingHeader header, const TrustedProxies& trusted) {
  ip::address unmapped_peer = WithoutV4Mapping(peer);
  if (trusted.empty() || !trusted.Contains(unmapped_peer)) return unmapped_peer;
  absl::string_view chain(chain_text.data(), chain_text.size());
  if (absl::StripAsciiWhitespace(chain).empty()) return unmapped_peer;
  std::vector<absl::string_view> hops;
  if (header == ForwardingHeader::kForwarded) {
    hops = ForwardedFor(chain);
  } else {
    hops = absl::StrSplit(chain, ',');
  }
  ip::address client = unmapped_peer;
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
    std::optional<ip::address> address = ParseHop(*hop);
    if (!address) return unmapped_peer;
    client = *address;
    if (!trusted.Contains(client)) return client;
  }
  return client;
}

}  // namespace herald
