// The embedded in-memory engine.
#include "engine/memory_engine.h"

#include "absl/hash/hash.h"
#include "absl/time/clock.h"
#include "random_id.h"

namespace herald {

MemoryEngine::MemoryEngine(EventSink& sink) : sink_(sink) {}

MemoryEngine::Stripe& MemoryEngine::StripeFor(absl::string_view topic) {
  return stripes_[absl::Hash<absl::string_view>{}(topic) % kStripes];
}

MemoryEngine::TopicState& MemoryEngine::TopicLocked(Stripe& stripe, absl::string_view topic) {
  auto [it, inserted] = stripe.topics.try_emplace(topic);
  if (inserted) it->second.epoch = RandomId(6);
  return it->second;
}

void MemoryEngine::Publish(const herald::v1::PublishRequest& request, PublishCallback done) {
  herald::v1::Event event;
  event.set_topic(request.topic());
  event.set_type(request.type());
  event.set_data(request.data());
  event.set_content_type(request.content_type());
  event.mutable_meta()->insert(request.meta().begin(), request.meta().end());
  event.set_time_unix_ms(absl::ToUnixMillis(absl::Now()));

  TopicPosition position;
  Stripe& stripe = StripeFor(request.topic());
  {
    absl::MutexLock lock(&stripe.mutex);
    TopicState& topic = TopicLocked(stripe, request.topic());
    position.epoch = topic.epoch;
    position.offset = request.ephemeral() ? 0 : ++topic.last_offset;
    event.set_epoch(position.epoch);
    event.set_offset(position.offset);
    sink_.OnEvent(std::move(event));
  }
  done(std::move(position));
}

TopicPosition MemoryEngine::Position(absl::string_view topic) {
  Stripe& stripe = StripeFor(topic);
  absl::MutexLock lock(&stripe.mutex);
  const TopicState& state = TopicLocked(stripe, topic);
  return {state.epoch, state.last_offset};
}

}  // namespace herald
