// Per-credential publish buckets.
#include "edge/publish_rate_limits.h"

namespace herald {

absl::Status PublishRateLimits::Allow(const Grant& grant) {
  if (per_second_ <= 0 || grant.open) return absl::OkStatus();
  absl::MutexLock lock(&mutex_);
  std::string key = grant.RateKey();
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(key)) buckets_.clear();
  auto [bucket, inserted] = buckets_.try_emplace(key, per_second_, 2 * per_second_);
  if (bucket->second.Allow()) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      "publish rate exceeded for this credential: retry after 1s");
}

}  // namespace herald
