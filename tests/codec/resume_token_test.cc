// SSE resume tokens.
#include "codec/resume_token.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(ResumeToken, RoundTripsEveryTopicsPosition) {
  std::vector<TopicPosition> positions = {{"a1b2c3", 7}, {"ffee00", 0}, {"x9", 18446744073709551615u}};
  std::string token = EncodeResumeToken(positions);
  std::optional<std::vector<TopicPosition>> decoded = DecodeResumeToken(token, 3);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, positions);
}

TEST(ResumeToken, AnEmptyEpochIsTheStartOfATopicWithoutHistory) {
  std::optional<std::vector<TopicPosition>> decoded = DecodeResumeToken("a1-4.-0", 2);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ((*decoded)[1], (TopicPosition{"", 0}));
  EXPECT_EQ(EncodeResumeToken(*decoded), "a1-4.-0");
  EXPECT_FALSE(DecodeResumeToken("-1", 1).has_value());
}

TEST(ResumeToken, TamperedOrForeignTokensAreRefused) {
  std::string token = EncodeResumeToken({{"a1b2c3", 7}, {"ffee00", 3}});
  EXPECT_FALSE(DecodeResumeToken(token, 3).has_value());  // Made for other topics.
  for (const char* bad : {"", "garbage", "a1b2c3-", "-7", "a1b2c3-x7", "a1b2c3-+7.ff-1",
                          "a1b2c3-99999999999999999999999", "a b-1", "a1b2c3-7.", "é-1"}) {
    EXPECT_FALSE(DecodeResumeToken(bad, 1).has_value()) << bad;
    EXPECT_FALSE(DecodeResumeToken(bad, 2).has_value()) << bad;
  }
}

}  // namespace
}  // namespace herald
