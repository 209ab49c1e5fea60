// The token bucket.
#include "publish/rate_limiter.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, AllowsABurstThenTheRate) {
  RateLimiter limiter(10, 20);
  RateLimiter::Clock::time_point now = RateLimiter::Clock::now() + 1h;
  // The bucket starts full (20), and an hour of refill cannot pass the burst.
  int allowed = 0;
  while (limiter.Allow(now)) ++allowed;
  EXPECT_EQ(allowed, 20);
  EXPECT_FALSE(limiter.Allow(now + 50ms));
  EXPECT_TRUE(limiter.Allow(now + 100ms));
  EXPECT_FALSE(limiter.Allow(now + 100ms));
  allowed = 0;
  while (limiter.Allow(now + 1100ms)) ++allowed;
  EXPECT_EQ(allowed, 10);
}

TEST(RateLimiter, ZeroMeansNoLimit) {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.Allow());
}

}  // namespace
}  // namespace herald
