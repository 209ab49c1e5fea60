// The PROXY protocol header (https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt).
#include "edge/proxy_header.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace herald {
namespace {

namespace ip = boost::asio::ip;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV1MostBytes = 107;
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr size_t kV2HeadBytes = 16;

// Whether `bytes` is a start of `prefix` or starts with it.
bool MayStartWith(std::string_view bytes, std::string_view prefix) {
  size_t n = std::min(bytes.size(), prefix.size());
  return bytes.substr(0, n) == prefix.substr(0, n);
}

ProxyHeader Malformed() { return {ProxyHeader::Kind::kMalformed, 0, std::nullopt}; }

// "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n", "PROXY TCP6 ...", "PROXY UNKNOWN ...".
ProxyHeader ParseV1(std::string_view bytes) {
  size_t end = bytes.find("\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() >= kV1MostBytes) return Malformed();
    return {ProxyHeader::Kind::kIncomplete, 0, std::nullopt};
  }
  if (end + 2 > kV1MostBytes) return Malformed();
  std::string line(bytes.substr(kV1Prefix.size(), end - kV1Prefix.size()));
  std::vector<std::string> fields = absl::StrSplit(line, ' ');
  ProxyHeader header{ProxyHeader::Kind::kHeader, end + 2, std::nullopt};
  if (!fields.empty() && fields[0] == "UNKNOWN") return header;
  if (fields.size() != 5 || (fields[0] != "TCP4" && fields[0] != "TCP6")) return Malformed();
  boost::system::error_code source_error;
  boost::system::error_code destination_error;
  ip::address source = ip::make_address(fields[1], source_error);
  ip::address destination = ip::make_address(fields[2], destination_error);
  if (source_error || destination_error) return Malformed();
  uint32_t source_port = 0;
  uint32_t destination_port = 0;
  if (!absl::SimpleAtoi(fields[3], &source_port) || !absl::SimpleAtoi(fields[4], &destination_port) ||
      source_port > 65535 || destination_port > 65535 ||
      source.is_v4() != (fields[0] == "TCP4") || destination.is_v4() != source.is_v4()) {
    return Malformed();
  }
  header.source = source;
  return header;
}

ProxyHeader ParseV2(std::string_view bytes) {
  if (bytes.size() < kV2HeadBytes) return {ProxyHeader::Kind::kIncomplete, 0, std::nullopt};
  auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  size_t length = (static_cast<size_t>(byte(14)) << 8) | byte(15);
  if ((byte(12) >> 4) != 2 || (byte(12) & 0x0F) > 1 || kV2HeadBytes + length > kMostProxyHeaderBytes) {
    return Malformed();
  }
  if (bytes.size() < kV2HeadBytes + length) return {ProxyHeader::Kind::kIncomplete, 0, std::nullopt};
  ProxyHeader header{ProxyHeader::Kind::kHeader, kV2HeadBytes + length, std::nullopt};
  header.local = (byte(12) & 0x0F) == 0;
  unsigned family = byte(13) >> 4;
  unsigned protocol = byte(13) & 0x0F;
  if (header.local || protocol != 1) return header;
  if (family == 1) {  // IPv4: source, destination, ports.
    if (length < 12) return Malformed();
    ip::address_v4::bytes_type address;
    for (size_t i = 0; i < 4; ++i) address[i] = byte(kV2HeadBytes + i);
    header.source = ip::address_v4(address);
  } else if (family == 2) {  // IPv6.
    if (length < 36) return Malformed();
    ip::address_v6::bytes_type address;
    for (size_t i = 0; i < 16; ++i) address[i] = byte(kV2HeadBytes + i);
    header.source = ip::address_v6(address);
  }
  return header;
}

}  // namespace

ProxyHeader ParseProxyHeader(std::string_view bytes) {
  if (bytes.empty()) return {ProxyHeader::Kind::kIncomplete, 0, std::nullopt};
  if (MayStartWith(bytes, kV2Signature)) {
    if (bytes.size() < kV2Signature.size()) return {ProxyHeader::Kind::kIncomplete, 0, std::nullopt};
    return ParseV2(bytes);
  }
  if (MayStartWith(bytes, kV1Prefix)) {
    if (bytes.size() < kV1Prefix.size()) return {ProxyHeader::Kind::kIncomplete, 0, std::nullopt};
    return ParseV1(bytes);
  }
  return {};
}

}  // namespace herald
