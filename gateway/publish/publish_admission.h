// Whether a publish is taken now, shared by every way in (gRPC, HTTP, WebSocket): the
// credential's rate, and whether the gateway keeps up with what it already accepted.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/grant.h"
#include "publish/rate_limiter.h"
#include "metrics/metrics.h"

namespace herald {

// Thread-safe.
//
// Rate: each credential (a token's `sub`, a publisher key) has its own token bucket of
// `per_second` events with bursts of twice that. Open grants (no keys configured) are not
// limited by rate: there is no credential to hold to account.
//
// Overload: when accepted events wait longer than `max_delivery_lag` before an event loop hands
// them out (`delivery_lag`, the hub's measure), or a loop cannot write them out as fast as they
// come (`write_backlogged`: connections whose peers read queue past their limit), every publish
// is refused until the loops catch up. The gateway pushes back on publishers instead of
// queueing without bound and cutting subscribers that read; a refused publish was not
// accepted, so nothing is lost. A `max_delivery_lag` of zero turns both off.
class PublishAdmission {
 public:
  PublishAdmission(double per_second, absl::Duration max_delivery_lag,
                   std::function<absl::Duration()> delivery_lag,
                   std::function<bool()> write_backlogged, Metrics& metrics)
      : rates_(per_second),
        max_delivery_lag_(max_delivery_lag),
        delivery_lag_(std::move(delivery_lag)),
        write_backlogged_(std::move(write_backlogged)),
        metrics_(metrics) {}

  // OK, or RESOURCE_EXHAUSTED saying when to retry.
  absl::Status Allow(const Grant& grant);

 private:

  absl::Status AllowRate(const Grant& grant);
  absl::Status AllowLoad();

  CredentialRates rates_;
  const absl::Duration max_delivery_lag_;
  const std::function<absl::Duration()> delivery_lag_;
  const std::function<bool()> write_backlogged_;
  Metrics& metrics_;
  // When the overload was last logged (unix ms), so the log says so once per episode.
  std::atomic<int64_t> logged_overload_ms_{0};
};

}  // namespace herald
