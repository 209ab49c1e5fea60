// Publish admission: per-credential buckets and overload pushback.
#include "publish/publish_admission.h"

#include "absl/strings/str_cat.h"
#include "log.h"

namespace herald {
namespace {

// An overload is logged at most this often.
constexpr int64_t kOverloadLogEveryMs = 10000;

}  // namespace

absl::Status PublishAdmission::Allow(const Grant& grant) {
  absl::Status status = AllowLoad();
  if (status.ok()) status = AllowRate(grant);
  return status;
}

absl::Status PublishAdmission::AllowRate(const Grant& grant) {
  if (rates_.Allow(grant)) return absl::OkStatus();
  metrics_.PublishRefused(PublishRefusal::kRate);
  return absl::ResourceExhaustedError(
      "publish rate exceeded for this credential: retry after 1s");
}

absl::Status PublishAdmission::AllowLoad() {
  if (max_delivery_lag_ <= absl::ZeroDuration()) return absl::OkStatus();
  absl::Duration lag = delivery_lag_();
  std::string why;
  if (lag > max_delivery_lag_) {
    why = absl::StrCat("accepted events wait ", absl::FormatDuration(lag),
                       " before delivery (--max_delivery_lag=",
                       absl::FormatDuration(max_delivery_lag_), ")");
  } else if (write_backlogged_()) {
    why = "events come faster than the event loops write them out (queues of connections "
          "that read pass --max_queue_bytes)";
  } else {
    return absl::OkStatus();
  }
  metrics_.PublishRefused(PublishRefusal::kOverloaded);
  int64_t now_ms = absl::ToUnixMillis(absl::Now());
  int64_t logged_ms = logged_overload_ms_.load(std::memory_order_relaxed);
  if (now_ms - logged_ms >= kOverloadLogEveryMs &&
      logged_overload_ms_.compare_exchange_strong(logged_ms, now_ms)) {
    LogWarning(absl::StrCat("overloaded: ", why,
                            "; publishes are refused until the event loops catch up"));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("gateway overloaded: ", why, "; retry after 100ms"));
}

}  // namespace herald
