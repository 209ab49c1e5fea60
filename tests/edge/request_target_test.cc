// Request target parsing.
#include "edge/request_target.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(ParseRequestTarget, ReadsPathTopicsAndResumeToken) {
  absl::StatusOr<RequestTarget> target =
      ParseRequestTarget("/sse?topic=a.b&x=1&topic=c%3Ad&topic=a.b&last_event_id=tok");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->path, "/sse");
  EXPECT_EQ(target->topics, (std::vector<std::string>{"a.b", "c:d"}));
  EXPECT_EQ(target->last_event_id, "tok");
}

TEST(ParseRequestTarget, RefusesInvalidTopicsAndMalformedTargets) {
  EXPECT_EQ(ParseRequestTarget("/ws?topic=bad%20topic").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRequestTarget("/ws?topic=").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseRequestTarget("http://host/ws").ok());
}

}  // namespace
}  // namespace herald
