// The PROXY protocol header, v1 and v2.
#include "edge/proxy_header.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

using Kind = ProxyHeader::Kind;

std::string V2(unsigned char version_command, unsigned char family, std::string addresses) {
  std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
  header += static_cast<char>(version_command);
  header += static_cast<char>(family);
  header += static_cast<char>(addresses.size() >> 8);
  header += static_cast<char>(addresses.size() & 0xFF);
  return header + addresses;
}

TEST(ProxyHeader, V1NamesTheClientOfTcpOverIpv4AndIpv6) {
  std::string line = "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n";
  ProxyHeader header = ParseProxyHeader(line + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_EQ(header.size, line.size());
  EXPECT_EQ(header.source->to_string(), "203.0.113.7");
  header = ParseProxyHeader("PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n");
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_EQ(header.source->to_string(), "2001:db8::7");
  header = ParseProxyHeader("PROXY UNKNOWN\r\n");
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_FALSE(header.source.has_value() || header.local);
}

TEST(ProxyHeader, V2NamesTheClientAndALocalConnectionNamesNone) {
  std::string ipv4 = {'\xCB', '\x00', '\x71', '\x07', '\x0A', '\x00', '\x00', '\x01',
                      '\xDC', '\x04', '\x01', '\xBB'};
  std::string header_bytes = V2(0x21, 0x11, ipv4);
  ProxyHeader header = ParseProxyHeader(header_bytes + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_EQ(header.size, header_bytes.size());
  EXPECT_EQ(header.source->to_string(), "203.0.113.7");

  std::string ipv6(36, '\0');
  ipv6[0] = '\x20';
  ipv6[1] = '\x01';
  ipv6[2] = '\x0d';
  ipv6[3] = '\xb8';
  ipv6[15] = '\x07';
  header = ParseProxyHeader(V2(0x21, 0x21, ipv6));
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_EQ(header.source->to_string(), "2001:db8::7");

  header = ParseProxyHeader(V2(0x20, 0x00, ""));  // LOCAL: the balancer's health check.
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_FALSE(header.source.has_value());
  EXPECT_TRUE(header.local);
  header = ParseProxyHeader(V2(0x21, 0x00, ""));  // A client's, of an unknown family.
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_FALSE(header.source.has_value() || header.local);
  // Up to 4 KiB of TLVs (an authority, TLS details) are taken.
  header = ParseProxyHeader(V2(0x21, 0x11, ipv4 + std::string(2000, '\x02')));
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_EQ(header.source->to_string(), "203.0.113.7");
  // TLVs after the addresses are skipped with them.
  header = ParseProxyHeader(V2(0x21, 0x11, ipv4 + std::string("\x04\x00\x01x", 4)));
  ASSERT_EQ(header.kind, Kind::kHeader);
  EXPECT_EQ(header.size, 16u + 16u);
}

TEST(ProxyHeader, PartsOfAHeaderAskForMoreAndOtherBytesAreNone) {
  EXPECT_EQ(ParseProxyHeader("").kind, Kind::kIncomplete);
  EXPECT_EQ(ParseProxyHeader("PRO").kind, Kind::kIncomplete);
  EXPECT_EQ(ParseProxyHeader("PROXY TCP4 203.0.113.7").kind, Kind::kIncomplete);
  EXPECT_EQ(ParseProxyHeader(std::string("\r\n\r\n\0\r\nQU", 9)).kind, Kind::kIncomplete);
  EXPECT_EQ(ParseProxyHeader(V2(0x21, 0x11, std::string(12, '\x01')).substr(0, 20)).kind,
            Kind::kIncomplete);
  EXPECT_EQ(ParseProxyHeader("GET / HTTP/1.1\r\n").kind, Kind::kNone);
  EXPECT_EQ(ParseProxyHeader("POST /v1/publish HTTP/1.1\r\n").kind, Kind::kNone);
  EXPECT_EQ(ParseProxyHeader("\x16\x03\x01").kind, Kind::kNone);  // A TLS ClientHello.
}

TEST(ProxyHeader, MalformedHeadersAreSaidSo) {
  for (const char* bad : {"PROXY TCP4 203.0.113.7 10.0.0.1 56324\r\n",
                          "PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n",
                          "PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
                          "PROXY TCP4 203.0.113.7 10.0.0.1 70000 443\r\n",
                          "PROXY UDP4 203.0.113.7 10.0.0.1 1 2\r\n"}) {
    EXPECT_EQ(ParseProxyHeader(bad).kind, Kind::kMalformed) << bad;
  }
  EXPECT_EQ(ParseProxyHeader("PROXY " + std::string(200, 'x')).kind, Kind::kMalformed);
  EXPECT_EQ(ParseProxyHeader(V2(0x11, 0x11, std::string(12, '\x01'))).kind, Kind::kMalformed);
  EXPECT_EQ(ParseProxyHeader(V2(0x21, 0x11, std::string(4, '\x01'))).kind, Kind::kMalformed);
  EXPECT_EQ(ParseProxyHeader(V2(0x21, 0x11, std::string(5000, '\x01'))).kind, Kind::kMalformed);
}

}  // namespace
}  // namespace herald
