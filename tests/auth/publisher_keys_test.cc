// Publisher keys file: parsing, hashes, constant-time lookup.
#include "auth/publisher_keys.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace herald {
namespace {

constexpr absl::string_view kOrdersKey = "orders-0123456789abcdef";

std::string HexSha256(absl::string_view key) {
  PublisherKeys::Digest digest = PublisherKeys::Sha256(key);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

TEST(PublisherKeys, FindsKeysWrittenPlainOrAsHashes) {
  std::string file = absl::StrCat("# backends\n\n", kOrdersKey, "  orders.>  subscribe:orders.*\n",
                                  "sha256:", HexSha256("prices-fedcba9876543210"), "\tprices.*\n");
  absl::StatusOr<PublisherKeys> keys = PublisherKeys::Parse(file);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 2u);

  std::optional<Grant> orders = keys->Find(kOrdersKey);
  ASSERT_TRUE(orders.has_value());
  EXPECT_TRUE(orders->MayPublish("orders.eu.new"));
  EXPECT_FALSE(orders->MayPublish("prices.eur"));
  EXPECT_TRUE(orders->MaySubscribe("orders.eu"));
  EXPECT_FALSE(orders->MaySubscribe("orders.eu.new"));
  EXPECT_EQ(orders->expires, absl::InfiniteFuture());

  std::optional<Grant> prices = keys->Find("prices-fedcba9876543210");
  ASSERT_TRUE(prices.has_value());
  EXPECT_TRUE(prices->MayPublish("prices.eur"));
  EXPECT_FALSE(prices->MaySubscribe("prices.eur"));
}

TEST(PublisherKeys, UnknownKeysAndNearMissesAreNotFound) {
  absl::StatusOr<PublisherKeys> keys = PublisherKeys::Parse(absl::StrCat(kOrdersKey, " orders.>"));
  ASSERT_TRUE(keys.ok());
  EXPECT_FALSE(keys->Find("").has_value());
  EXPECT_FALSE(keys->Find("orders-0123456789abcdeF").has_value());
  EXPECT_FALSE(keys->Find(absl::StrCat(kOrdersKey, " ")).has_value());
  // The file holds the hash, not the key: presenting the hash itself is not the key.
  EXPECT_FALSE(keys->Find(HexSha256(kOrdersKey)).has_value());
}

TEST(PublisherKeys, BadLinesAreErrorsWithTheirLineNumber) {
  absl::StatusOr<PublisherKeys> no_pattern = PublisherKeys::Parse("\n0123456789abcdefgh\n");
  ASSERT_FALSE(no_pattern.ok());
  EXPECT_NE(no_pattern.status().message().find("line 2"), absl::string_view::npos);
  EXPECT_FALSE(PublisherKeys::Parse("short orders.>").ok());
  EXPECT_FALSE(PublisherKeys::Parse("sha256:abc orders.>").ok());
  EXPECT_FALSE(PublisherKeys::Parse(absl::StrCat(kOrdersKey, " orders..x")).ok());
  EXPECT_FALSE(PublisherKeys::Parse(absl::StrCat(kOrdersKey, " subscribe:")).ok());
}

TEST(PublisherKeys, AKeyMayCarryItsExpiry) {
  absl::StatusOr<PublisherKeys> keys = PublisherKeys::Parse(
      absl::StrCat(kOrdersKey, " orders.> expires=2027-03-01T00:00:00Z"));
  ASSERT_TRUE(keys.ok()) << keys.status();
  std::optional<Grant> grant = keys->Find(kOrdersKey);
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->expires, absl::FromUnixSeconds(1803859200));
  EXPECT_TRUE(grant->MayPublish("orders.eu"));
  EXPECT_TRUE(keys->Holds(grant->key_id, absl::FromUnixSeconds(1803859200 - 1)));
  EXPECT_FALSE(keys->Holds(grant->key_id, absl::FromUnixSeconds(1803859200)));  // Expired.
  EXPECT_FALSE(keys->Holds(std::string(64, '0'), absl::FromUnixSeconds(0)));
  EXPECT_FALSE(PublisherKeys::Parse(absl::StrCat(kOrdersKey, " orders.> expires=tomorrow")).ok());
}

TEST(PublisherKeys, AnErrorNeverShowsAKey) {
  // Columns swapped: the key is where a pattern should be.
  for (std::string line : {"orders.> s3cret/key+with*odd=chars", "orders.> s3cret..key-long-enough",
                           "s3cret-key-long-enough"}) {
    absl::StatusOr<PublisherKeys> keys = PublisherKeys::Parse(line);
    ASSERT_FALSE(keys.ok()) << line;
    EXPECT_EQ(keys.status().message().find("s3cret"), absl::string_view::npos)
        << keys.status().message();
    EXPECT_NE(keys.status().message().find("line 1"), absl::string_view::npos);
  }
}

}  // namespace
}  // namespace herald
