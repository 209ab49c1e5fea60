// Connection caps: what a client address counts under.
#include "edge/connection_limits.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

std::string Bucket(const char* address) {
  return ClientAddressBucket(boost::asio::ip::make_address(address));
}

TEST(ClientAddressBucket, Ipv4AddressesCountOnTheirOwn) {
  EXPECT_EQ(Bucket("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(Bucket("::ffff:203.0.113.7"), "203.0.113.7");  // IPv4-mapped: the same client.
}

TEST(ClientAddressBucket, Ipv6AddressesCountByTheirSlash64) {
  EXPECT_EQ(Bucket("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(Bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  EXPECT_NE(Bucket("2001:db8:1:3::1"), Bucket("2001:db8:1:2::1"));
}

// One host rotating through its /64 is one client to the per-address cap.
TEST(ConnectionLimits, AHostRotatingThroughItsSlash64HitsThePerAddressCap) {
  ConnectionLimits limits({.per_ip = 2});
  absl::StatusOr<ConnectionSlot> first = limits.Acquire(Bucket("2001:db8::1"));
  absl::StatusOr<ConnectionSlot> second = limits.Acquire(Bucket("2001:db8::2"));
  ASSERT_TRUE(first.ok() && second.ok());
  absl::StatusOr<ConnectionSlot> third = limits.Acquire(Bucket("2001:db8::3"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(limits.Acquire(Bucket("2001:db8:0:1::1")).ok());  // Another /64.
}

TEST(ConnectionLimits, ConnectionsNotYetAdmittedAreCappedInAllAndPerAddress) {
  ConnectionLimits limits({.per_ip = 2, .pending = 3});
  std::optional<PendingSlot> first = limits.AcquirePending("10.0.0.1");
  std::optional<PendingSlot> second = limits.AcquirePending("10.0.0.1");
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(limits.AcquirePending("10.0.0.1"));  // Its address's share.
  std::optional<PendingSlot> other = limits.AcquirePending("10.0.0.2");
  ASSERT_TRUE(other);
  EXPECT_FALSE(limits.AcquirePending("10.0.0.3"));  // The total.
  first->Release();
  EXPECT_EQ(limits.pending(), 2u);
  EXPECT_TRUE(limits.AcquirePending("10.0.0.1"));
}

TEST(ConnectionLimits, ACredentialIsCappedWhateverItsAddressAndAnUnnamedOneIsNot) {
  ConnectionLimits limits({.per_ip = 3, .per_credential = 2});
  absl::StatusOr<ConnectionSlot> first = limits.Acquire("10.0.0.1", "jwt\neve");
  absl::StatusOr<ConnectionSlot> second = limits.Acquire("10.0.0.2", "jwt\neve");
  ASSERT_TRUE(first.ok() && second.ok());
  absl::StatusOr<ConnectionSlot> third = limits.Acquire("10.0.0.3", "jwt\neve");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.status().message().find("credential"), absl::string_view::npos);
  // The refusal took no place of its address: another credential from there still gets in.
  EXPECT_TRUE(limits.Acquire("10.0.0.3", "jwt\nbob").ok());
  EXPECT_EQ(limits.total(), 2u);  // The one just taken was given back at once.
  // Open access names nobody: only the address counts.
  absl::StatusOr<ConnectionSlot> open_one = limits.Acquire("10.0.0.9", "");
  absl::StatusOr<ConnectionSlot> open_two = limits.Acquire("10.0.0.9", "");
  absl::StatusOr<ConnectionSlot> open_three = limits.Acquire("10.0.0.9", "");
  EXPECT_TRUE(open_one.ok() && open_two.ok() && open_three.ok());
  // A place given back is free again.
  *first = ConnectionSlot();
  EXPECT_TRUE(limits.Acquire("10.0.0.4", "jwt\neve").ok());
}

TEST(GrpcPeerBucket, IsTheAddressBucketWhateverTheFormGrpcWritesItIn) {
  EXPECT_EQ(GrpcPeerBucket("ipv4:10.0.0.1:5000"), "10.0.0.1");
  EXPECT_EQ(GrpcPeerBucket("ipv6:[2001:db8::1]:5000"), "2001:db8::/64");
  EXPECT_EQ(GrpcPeerBucket("ipv6:%5B2001:db8::1%5D:5000"), "2001:db8::/64");
  EXPECT_EQ(GrpcPeerBucket("ipv6:%5B2001:db8::2%5D:6000"), GrpcPeerBucket("ipv6:[2001:db8::3]:7"));
  EXPECT_EQ(GrpcPeerBucket("ipv6:%5B::ffff:10.0.0.1%5D:5000"), "10.0.0.1");
  EXPECT_EQ(GrpcPeerBucket("unix:/run/herald.sock"), "unix:/run/herald.sock");
}

}  // namespace
}  // namespace herald
