// herald.join / herald.leave events.
#include "publish/join_leave.h"

#include <boost/json.hpp>

#include "absl/time/clock.h"

namespace herald {

JoinLeave::JoinLeave(Engine& engine, std::shared_ptr<const TopicRulesStore> rules)
    : engine_(&engine), rules_(std::move(rules)) {}

void JoinLeave::Stop() {
  absl::MutexLock lock(&mutex_);
  engine_ = nullptr;
}

bool JoinLeave::Announces(absl::string_view topic) const {
  return rules_ && rules_->current()->For(topic).join_leave;
}

bool JoinLeave::Joined(const std::string& topic, const std::string& client_id,
                       const std::string& user) {
  return Tell(topic, "herald.join", client_id, user);
}

void JoinLeave::Left(const std::string& topic, const std::string& client_id,
                     const std::string& user) {
  Tell(topic, "herald.leave", client_id, user);
}

bool JoinLeave::Tell(const std::string& topic, const char* type, const std::string& client_id,
                     const std::string& user) {
  herald::v1::PublishRequest request;
  request.set_topic(topic);
  request.set_type(type);
  request.set_ephemeral(true);
  request.set_content_type("application/json");
  request.set_data(boost::json::serialize(
      boost::json::object{{"client_id", client_id}, {"user", user}}));
  int64_t second = absl::ToUnixSeconds(absl::Now());
  // Held while publishing, so Stop waits for a publish in progress (the engine goes next).
  absl::MutexLock lock(&mutex_);
  if (engine_ == nullptr) return false;
  if (second != second_) {
    second_ = second;
    told_this_second_.clear();
  }
  if (++told_this_second_[topic] > kMostPerTopicPerSecond) return false;
  // Straight to the engine: the `herald.` types are the gateway's own, refused from clients.
  engine_->Publish(request, /*publisher=*/"", [](absl::StatusOr<TopicPosition>) {});
  return true;
}

}  // namespace herald
