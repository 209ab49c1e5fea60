// Token bucket.
#include "publish/rate_limiter.h"

#include <algorithm>

namespace herald {

RateLimiter::RateLimiter(double per_second, double burst)
    : per_second_(per_second), burst_(burst), tokens_(burst), last_(Clock::now()) {}

bool RateLimiter::Allow(Clock::time_point now) {
  if (per_second_ <= 0) return true;
  std::chrono::duration<double> elapsed = now - last_;
  if (elapsed.count() > 0) {
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * per_second_);
    last_ = now;
  }
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool CredentialRates::Allow(const Grant& grant) {
  if (per_second_ <= 0 || grant.open) return true;
  std::string key = grant.RateKey();
  absl::MutexLock lock(&mutex_);
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(key)) buckets_.clear();
  auto [bucket, inserted] = buckets_.try_emplace(key, per_second_, 2 * per_second_);
  return bucket->second.Allow();
}

}  // namespace herald
