// Subscriptions and fan-out across shards.
#include "hub/hub.h"

#include <cstdlib>

#include "log.h"
#include "hub/encoded_event.h"

namespace herald {

Hub::Hub(std::vector<LoopPoster> loops) {
  if (loops.empty() || loops.size() > 64) {
    LogError("the hub supports 1 to 64 event loops");
    std::abort();
  }
  for (LoopPoster& post : loops) shards_.push_back(std::make_unique<Shard>(std::move(post)));
}

void Hub::Attach(size_t shard, Transport* transport) { shards_[shard]->Attach(transport); }

void Hub::Detach(size_t shard, Transport* transport) {
  for (const std::string& topic : shards_[shard]->Detach(transport)) {
    MarkInterest(shard, topic, false);
  }
}

bool Hub::Subscribe(size_t shard, absl::string_view topic, Transport* transport) {
  Shard& owner = *shards_[shard];
  if (owner.IsSubscribed(topic, transport)) return false;
  if (owner.Subscribe(topic, transport)) MarkInterest(shard, topic, true);
  return true;
}

void Hub::Unsubscribe(size_t shard, absl::string_view topic, Transport* transport) {
  if (shards_[shard]->Unsubscribe(topic, transport)) MarkInterest(shard, topic, false);
}

void Hub::MarkInterest(size_t shard, absl::string_view topic, bool interested) {
  absl::MutexLock lock(&interest_mutex_);
  uint64_t bit = uint64_t{1} << shard;
  if (interested) {
    shards_by_topic_[topic] |= bit;
    return;
  }
  auto it = shards_by_topic_.find(topic);
  if (it == shards_by_topic_.end()) return;
  it->second &= ~bit;
  if (it->second == 0) shards_by_topic_.erase(it);
}

void Hub::CloseAll(const Disconnect& disconnect) {
  for (const std::unique_ptr<Shard>& shard : shards_) {
    shard->Post([shard = shard.get(), disconnect] { shard->CloseAll(disconnect); });
  }
}

size_t Hub::attached_count() const {
  size_t count = 0;
  for (const std::unique_ptr<Shard>& shard : shards_) count += shard->attached_count();
  return count;
}

void Hub::OnEvent(herald::v1::Event event) {
  uint64_t shards;
  {
    absl::ReaderMutexLock lock(&interest_mutex_);
    auto it = shards_by_topic_.find(event.topic());
    if (it == shards_by_topic_.end()) return;
    shards = it->second;
  }
  std::shared_ptr<const EncodedEvent> encoded = EncodeEvent(std::move(event));
  for (size_t index = 0; shards != 0; ++index, shards >>= 1) {
    if (shards & 1) shards_[index]->Deliver(encoded);
  }
}

}  // namespace herald
