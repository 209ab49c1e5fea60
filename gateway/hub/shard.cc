// A shard's subscriptions and its inbox of events to deliver.
#include "hub/shard.h"

#include <algorithm>

namespace herald {

Shard::Shard(LoopPoster post) : post_(std::move(post)) {}

void Shard::Post(std::function<void()> task) { post_(std::move(task)); }

void Shard::Deliver(std::shared_ptr<const EncodedEvent> event) {
  bool was_empty;
  {
    absl::MutexLock lock(&inbox_mutex_);
    was_empty = inbox_.empty();
    inbox_.push_back(std::move(event));
  }
  if (was_empty) post_([this] { DeliverInbox(); });
}

void Shard::DeliverInbox() {
  {
    absl::MutexLock lock(&inbox_mutex_);
    delivering_.swap(inbox_);
  }
  for (const std::shared_ptr<const EncodedEvent>& event : delivering_) {
    auto it = subscribers_.find(event->event.topic());
    if (it == subscribers_.end()) continue;
    for (Transport* transport : it->second) {
      transport->Enqueue(event);
      to_flush_.insert(transport);
    }
  }
  delivering_.clear();
  for (Transport* transport : to_flush_) transport->Flush();
  to_flush_.clear();
}

void Shard::Attach(Transport* transport) {
  if (topics_of_.try_emplace(transport).second) {
    attached_count_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<std::string> Shard::Detach(Transport* transport) {
  std::vector<std::string> emptied;
  auto it = topics_of_.find(transport);
  if (it == topics_of_.end()) return emptied;
  for (const std::string& topic : it->second) {
    if (RemoveSubscriber(topic, transport)) emptied.push_back(topic);
  }
  topics_of_.erase(it);
  attached_count_.fetch_sub(1, std::memory_order_relaxed);
  return emptied;
}

bool Shard::Subscribe(absl::string_view topic, Transport* transport) {
  auto [topics, attached] = topics_of_.try_emplace(transport);
  if (attached) attached_count_.fetch_add(1, std::memory_order_relaxed);
  if (!topics->second.emplace(topic).second) return false;
  std::vector<Transport*>& subscribers = subscribers_[topic];
  subscribers.push_back(transport);
  return subscribers.size() == 1;
}

bool Shard::Unsubscribe(absl::string_view topic, Transport* transport) {
  auto it = topics_of_.find(transport);
  if (it == topics_of_.end() || it->second.erase(std::string(topic)) == 0) return false;
  return RemoveSubscriber(topic, transport);
}

bool Shard::RemoveSubscriber(absl::string_view topic, Transport* transport) {
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return false;
  std::vector<Transport*>& subscribers = it->second;
  auto position = std::find(subscribers.begin(), subscribers.end(), transport);
  if (position != subscribers.end()) {
    *position = subscribers.back();
    subscribers.pop_back();
  }
  if (!subscribers.empty()) return false;
  subscribers_.erase(it);
  return true;
}

bool Shard::IsSubscribed(absl::string_view topic, Transport* transport) const {
  auto it = topics_of_.find(transport);
  return it != topics_of_.end() && it->second.contains(topic);
}

size_t Shard::TopicCount(Transport* transport) const {
  auto it = topics_of_.find(transport);
  return it == topics_of_.end() ? 0 : it->second.size();
}

void Shard::CloseAll(const Disconnect& disconnect) {
  std::vector<Transport*> transports;
  transports.reserve(topics_of_.size());
  for (const auto& [transport, topics] : topics_of_) transports.push_back(transport);
  for (Transport* transport : transports) transport->Close(disconnect);
}

}  // namespace herald
