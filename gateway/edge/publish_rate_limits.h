// Publish rate per credential, shared by every way in (gRPC, HTTP, WebSocket).
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "auth/grant.h"
#include "edge/rate_limiter.h"

namespace herald {

// Thread-safe. Each credential (a token's `sub`, a publisher key) has its own token bucket of
// `per_second` events with bursts of twice that. Open grants (no keys configured) are not
// limited here: there is no credential to hold to account.
class PublishRateLimits {
 public:
  explicit PublishRateLimits(double per_second) : per_second_(per_second) {}

  // OK, or RESOURCE_EXHAUSTED saying when to retry.
  absl::Status Allow(const Grant& grant);

 private:
  // Buckets kept at most; past it they all start again full (an idle bucket is full anyway).
  static constexpr size_t kMaxBuckets = 100000;

  const double per_second_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, RateLimiter> buckets_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace herald
