// herald.join / herald.leave: ephemeral events told to the subscribers of topics whose rule says
// join_leave: true, when a client starts or stops following the topic.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "topic/topic_rules.h"

namespace herald {

// Thread-safe.
class JoinLeave {
 public:
  // Events one topic gets from this node in one second at most: a reconnect storm of N clients
  // would otherwise be N joins to each of N subscribers (N² deliveries). Past it, joins and
  // leaves of that second are not told: a list of members kept from these events is then
  // incomplete (Admin.Presence answers who is there).
  static constexpr uint32_t kMostPerTopicPerSecond = 20;

  // `rules` may be null: no topic announces.
  JoinLeave(Engine& engine, std::shared_ptr<const TopicRulesStore> rules);

  // Stops telling anything (before the engine goes: clients ending later are not told).
  void Stop();

  // Whether `topic`'s rule has join_leave (looked up when a client subscribes or leaves).
  bool Announces(absl::string_view topic) const;
  // Returns whether the join was told (false past the cap): only then is the leave told too.
  bool Joined(const std::string& topic, const std::string& client_id, const std::string& user);
  void Left(const std::string& topic, const std::string& client_id, const std::string& user);

 private:
  // Publishes the event unless the topic had its share this second or Stop ran.
  bool Tell(const std::string& topic, const char* type, const std::string& client_id,
            const std::string& user);

  absl::Mutex mutex_;
  Engine* engine_ ABSL_GUARDED_BY(mutex_);
  const std::shared_ptr<const TopicRulesStore> rules_;
  int64_t second_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::flat_hash_map<std::string, uint32_t> told_this_second_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace herald
