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

TEST(ParseRequestTarget, ReadsTheToken) {
  absl::StatusOr<RequestTarget> target = ParseRequestTarget("/ws?token=a.b%2Ec&topic=x");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->token, "a.b.c");
}

TEST(CookieValue, FindsTheNamedCookie) {
  EXPECT_EQ(CookieValue("herald_token=abc", "herald_token"), "abc");
  EXPECT_EQ(CookieValue("a=1; herald_token=x.y.z; b=2", "herald_token"), "x.y.z");
  EXPECT_EQ(CookieValue("a=1;herald_token=\"q\"", "herald_token"), "q");
  EXPECT_EQ(CookieValue("xherald_token=abc; herald_tokens=d", "herald_token"), "");
  EXPECT_EQ(CookieValue("", "herald_token"), "");
  EXPECT_EQ(CookieValue(";;=;herald_token", "herald_token"), "");
}

}  // namespace
}  // namespace herald
