// Topic grammar.
#include "topic/topic.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

TEST(ValidateTopic, AcceptsEveryAllowedCharacterAndSegments) {
  EXPECT_TRUE(ValidateTopic("chat").ok());
  EXPECT_TRUE(ValidateTopic("chat.room-1.user_2").ok());
  EXPECT_TRUE(ValidateTopic("a:b@c=d.E9").ok());
  EXPECT_TRUE(ValidateTopic(std::string(255, 'x')).ok());
}

TEST(ValidateTopic, RefusesEmptyTooLongAndBadCharacters) {
  for (std::string topic : {std::string(""), std::string(256, 'x'), std::string("with space"),
                            std::string("slash/topic"), std::string("star.*"),
                            std::string("gt.>"), std::string("tab\t"), std::string("é")}) {
    absl::Status status = ValidateTopic(topic);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "topic: " << topic;
  }
}

TEST(ValidateTopic, RefusesEmptySegments) {
  for (const char* topic : {".chat", "chat.", "chat..room", "."}) {
    EXPECT_EQ(ValidateTopic(topic).code(), absl::StatusCode::kInvalidArgument) << topic;
  }
}

}  // namespace
}  // namespace herald
