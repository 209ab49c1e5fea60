// --trusted_proxies and the client address a trusted proxy forwards.
#include "edge/client_address.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

boost::asio::ip::address Ip(const char* text) { return boost::asio::ip::make_address(text); }

TrustedProxies Trusted(const char* list) {
  absl::StatusOr<TrustedProxies> trusted = TrustedProxies::Parse(list);
  EXPECT_TRUE(trusted.ok()) << trusted.status();
  return trusted.value_or(TrustedProxies());
}

constexpr ForwardingHeader kXff = ForwardingHeader::kXForwardedFor;
constexpr ForwardingHeader kForwarded = ForwardingHeader::kForwarded;

std::string Client(const char* peer, const char* chain, ForwardingHeader header = kXff,
                   const char* trusted = "10.0.0.0/8,2001:db8:ffff::/48") {
  return ClientAddress(Ip(peer), chain, header, Trusted(trusted)).to_string();
}

TEST(TrustedProxies, AddressesAndNetworksOfBothFamilies) {
  TrustedProxies trusted = Trusted("10.0.0.0/8, 192.168.1.5,2001:db8::/32,::1");
  EXPECT_TRUE(trusted.Contains(Ip("10.200.3.4")));
  EXPECT_TRUE(trusted.Contains(Ip("::ffff:10.1.1.1")));  // IPv4-mapped: the same address.
  EXPECT_FALSE(trusted.Contains(Ip("11.0.0.1")));
  EXPECT_TRUE(trusted.Contains(Ip("192.168.1.5")));
  EXPECT_FALSE(trusted.Contains(Ip("192.168.1.6")));
  EXPECT_TRUE(trusted.Contains(Ip("2001:db8:1234::9")));
  EXPECT_FALSE(trusted.Contains(Ip("2001:db9::9")));
  EXPECT_TRUE(trusted.Contains(Ip("::1")));
  EXPECT_TRUE(Trusted("172.16.0.0/12").Contains(Ip("172.31.255.255")));
  EXPECT_FALSE(Trusted("172.16.0.0/12").Contains(Ip("172.32.0.0")));
  EXPECT_TRUE(Trusted("0.0.0.0/0").Contains(Ip("8.8.8.8")));
  EXPECT_TRUE(Trusted("").empty());
}

TEST(TrustedProxies, RefusesWhatIsNotAnAddressOrNetwork) {
  for (const char* bad : {"10.0.0.0/33", "proxy.internal", "10.0.0/8", "::1/129", "10.0.0.1/x"}) {
    absl::StatusOr<TrustedProxies> trusted = TrustedProxies::Parse(bad);
    ASSERT_FALSE(trusted.ok()) << bad;
    EXPECT_NE(trusted.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << trusted.status();
  }
}

TEST(ClientAddress, AnUntrustedPeerIsTheClientWhateverItsHeadersSay) {
  EXPECT_EQ(Client("198.51.100.9", "203.0.113.7"), "198.51.100.9");
  EXPECT_EQ(Client("198.51.100.9", "for=203.0.113.7", kForwarded), "198.51.100.9");
  EXPECT_EQ(Client("10.0.0.2", "203.0.113.7", kXff, ""), "10.0.0.2");  // Nobody is trusted.
  EXPECT_EQ(Client("::ffff:198.51.100.9", "203.0.113.7"), "198.51.100.9");
}

TEST(ClientAddress, ATrustedProxyNamesTheNearestUntrustedHop) {
  EXPECT_EQ(Client("10.0.0.2", "203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.2", " 203.0.113.7 "), "203.0.113.7");
  // Two proxies of ours; what the client itself wrote on the left is not believed.
  EXPECT_EQ(Client("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.9"), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.2", "10.0.0.7, 10.0.0.9"), "10.0.0.7");  // All trusted: the first.
  EXPECT_EQ(Client("10.0.0.2", "203.0.113.7:4711"), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.2", "2001:db8::7"), "2001:db8::7");
  EXPECT_EQ(Client("10.0.0.2", "[2001:db8::7]:4711"), "2001:db8::7");
  EXPECT_EQ(Client("2001:db8:ffff::1", "203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.2", ""), "10.0.0.2");  // A proxy that names nobody.
}

TEST(ClientAddress, ForwardedNamesItsHopsInForParameters) {
  EXPECT_EQ(Client("10.0.0.2", "for=203.0.113.7;proto=https", kForwarded), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.2", R"(for="[2001:db8::7]:4711", for=10.0.0.9)", kForwarded),
            "2001:db8::7");
  EXPECT_EQ(Client("10.0.0.2", "For=\"203.0.113.7:80\"", kForwarded), "203.0.113.7");
  // An element the client wrote without for=, left of our proxy's: the proxy's entry holds.
  EXPECT_EQ(Client("10.0.0.2", "proto=x, for=203.0.113.7", kForwarded), "203.0.113.7");
  // The header not chosen is not read at all.
  EXPECT_EQ(Client("10.0.0.2", "203.0.113.7", kForwarded), "10.0.0.2");
}

TEST(ClientAddress, AMalformedChainLeavesThePeer) {
  EXPECT_EQ(Client("10.0.0.2", "not-an-address"), "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.2", "203.0.113.7, garbage"), "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.2", "203.0.113.7:port"), "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.2", "[2001:db8::7"), "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.2", "for=unknown", kForwarded), "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.2", "for=_hidden", kForwarded), "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.2", "proto=https", kForwarded), "10.0.0.2");
  // What our own proxy appended is right of the garbage: it holds.
  EXPECT_EQ(Client("10.0.0.2", "garbage, 203.0.113.7"), "203.0.113.7");
}

}  // namespace
}  // namespace herald
