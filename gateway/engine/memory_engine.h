// The embedded engine: one process, topics held in memory.
#pragma once

#include "absl/strings/string_view.h"
#include <array>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"

namespace herald {

class MemoryEngine final : public Engine {
 public:
  // `sink` must outlive the engine.
  explicit MemoryEngine(EventSink& sink);

  // Engine:
  void Publish(const herald::v1::PublishRequest& request, PublishCallback done) override;
  TopicPosition Position(absl::string_view topic) override;

 private:
  struct TopicState {
    std::string epoch;
    uint64_t last_offset = 0;
  };
  // Topics are spread over stripes so publishes to different topics rarely share a lock. A
  // stripe's lock is held while its events go to the sink, which keeps each topic in order.
  struct Stripe {
    absl::Mutex mutex;
    absl::flat_hash_map<std::string, TopicState> topics ABSL_GUARDED_BY(mutex);
  };
  static constexpr size_t kStripes = 64;

  Stripe& StripeFor(absl::string_view topic);
  TopicState& TopicLocked(Stripe& stripe, absl::string_view topic)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mutex);

  EventSink& sink_;
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace herald
