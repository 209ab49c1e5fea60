// A token bucket: how many commands a client may send per second, with a burst allowance.
#pragma once

#include <chrono>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "auth/grant.h"

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

// A token bucket per credential (Grant::RateKey) of `per_second` with bursts of twice that.
// Thread-safe. Open grants (no keys configured) are not limited: there is no credential to hold
// to account. `per_second` <= 0: no limit.
class CredentialRates {
 public:
  explicit CredentialRates(double per_second) : per_second_(per_second) {}
  CredentialRates(const CredentialRates&) = delete;
  CredentialRates& operator=(const CredentialRates&) = delete;

  // Takes one from `grant`'s bucket if one is left.
  bool Allow(const Grant& grant);

 private:
  // Buckets kept at most; past it they all start again full (an idle bucket is full anyway).
  static constexpr size_t kMaxBuckets = 100000;

  const double per_second_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, RateLimiter> buckets_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace herald
