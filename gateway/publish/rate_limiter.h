// A token bucket: how many commands a client may send per second, with a burst allowance.
#pragma once

#include <chrono>

namespace herald {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `per_second` tokens a second, at most `burst` saved up; per_second == 0 means no limit.
  RateLimiter(double per_second, double burst);

  // Takes a token if one is left at `now`.
  bool Allow(Clock::time_point now = Clock::now());

 private:
  double per_second_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace herald
