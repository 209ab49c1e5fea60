// Topic patterns: `*` one segment, `>` the rest.
#include "auth/topic_pattern.h"

#include <gtest/gtest.h>

#include "auth/grant.h"

namespace herald {
namespace {

TEST(TopicPattern, StarMatchesExactlyOneSegment) {
  EXPECT_TRUE(TopicPatternMatches("chat.*", "chat.lobby"));
  EXPECT_FALSE(TopicPatternMatches("chat.*", "chat"));
  EXPECT_FALSE(TopicPatternMatches("chat.*", "chat.lobby.typing"));
  EXPECT_TRUE(TopicPatternMatches("*.lobby", "chat.lobby"));
  EXPECT_TRUE(TopicPatternMatches("*", "news"));
  EXPECT_FALSE(TopicPatternMatches("*", "news.eu"));
}

TEST(TopicPattern, GreaterThanMatchesTheRestButNotNothing) {
  EXPECT_TRUE(TopicPatternMatches("chat.>", "chat.lobby"));
  EXPECT_TRUE(TopicPatternMatches("chat.>", "chat.lobby.typing"));
  EXPECT_FALSE(TopicPatternMatches("chat.>", "chat"));
  EXPECT_FALSE(TopicPatternMatches("chat.>", "chatter.x"));
  EXPECT_TRUE(TopicPatternMatches(">", "anything.at.all"));
}

TEST(TopicPattern, LiteralsMatchWholeSegmentsOnly) {
  EXPECT_TRUE(TopicPatternMatches("user:42.inbox", "user:42.inbox"));
  EXPECT_FALSE(TopicPatternMatches("user:42.inbox", "user:421.inbox"));
  EXPECT_FALSE(TopicPatternMatches("user:4", "user:42"));
  EXPECT_FALSE(TopicPatternMatches("chat", "chat.lobby"));
  EXPECT_FALSE(TopicPatternMatches("chat.lobby", "chat"));
}

TEST(TopicPattern, InvalidPatternsAreRefusedAndMatchNothing) {
  EXPECT_TRUE(ValidateTopicPattern("chat.*.typing").ok());
  EXPECT_TRUE(ValidateTopicPattern("chat.>").ok());
  EXPECT_FALSE(ValidateTopicPattern("").ok());
  EXPECT_FALSE(ValidateTopicPattern("chat.>.x").ok());
  EXPECT_FALSE(ValidateTopicPattern("chat..x").ok());
  EXPECT_FALSE(ValidateTopicPattern("chat.").ok());
  EXPECT_FALSE(ValidateTopicPattern("ch*t").ok());
  EXPECT_FALSE(ValidateTopicPattern("chat lobby").ok());
  EXPECT_FALSE(TopicPatternMatches("", "chat"));
  EXPECT_FALSE(TopicPatternMatches("chat..lobby", "chat.lobby"));
  EXPECT_FALSE(TopicPatternMatches("chat.>.x", "chat.a.x"));
}

TEST(Grant, ChecksSubscribeAndPublishSeparately) {
  Grant grant;
  grant.subscribe = {"chat.>", "news.*"};
  grant.publish = {"chat.lobby"};
  EXPECT_TRUE(grant.MaySubscribe("chat.lobby"));
  EXPECT_TRUE(grant.MaySubscribe("news.eu"));
  EXPECT_FALSE(grant.MaySubscribe("prices.eur"));
  EXPECT_TRUE(grant.MayPublish("chat.lobby"));
  EXPECT_FALSE(grant.MayPublish("chat.other"));
  EXPECT_FALSE(grant.MayPublish("news.eu"));
  EXPECT_TRUE(Grant::Open().MayPublish("anything"));
  EXPECT_FALSE(Grant().MaySubscribe("anything"));
}

}  // namespace
}  // namespace herald
