// Topic rules (--topic_rules_file): per-topic history, presence, join/leave events, client
// publishes and a subscriber cap, chosen by the first rule whose pattern matches the topic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace herald {

// The most events one topic may keep (--history_size and the rules' history_size).
inline constexpr size_t kMaxHistorySize = 1000000;

// Who may publish to a topic as a client: with a token (whatever way it comes in), or without
// keys over WebSocket and POST /v1/publish. Backends (publisher keys; gRPC on a gateway without
// keys) always may, as their keys allow.
enum class ClientPublish {
  kAllowed,  // As the credential's `publish` patterns allow.
  kRefused,  // Never.
  kProxy,    // As the app's Authorizer decides.
};

struct TopicRule {
  std::string pattern;  // Empty for the defaults (the flags), which match every topic.
  size_t history_size = 1000;  // Events kept; 0 keeps none.
  absl::Duration history_ttl = absl::Minutes(10);
  bool presence = false;    // Subscribers may ask who else follows the topic.
  bool join_leave = false;  // Subscribers get herald.join / herald.leave events.
  ClientPublish client_publish = ClientPublish::kAllowed;
  size_t max_subscribers = 0;  // On this node at once; 0: no cap.
  int line = 0;  // Where the rule starts in its file (1-based); 0 for the defaults.

  // The rule on one line, e.g. `chat.> history_size=500 history_ttl=1h presence join_leave`.
  std::string Describe() const;
};

// An ordered list of rules, and the defaults for topics no rule matches. Immutable.
class TopicRules {
 public:
  explicit TopicRules(TopicRule defaults) : defaults_(std::move(defaults)) {}
  TopicRules(std::vector<TopicRule> rules, TopicRule defaults)
      : rules_(std::move(rules)), defaults_(std::move(defaults)) {}

  // Parses a rules file's text (YAML; JSON is YAML too): a list of mappings with `pattern` and
  // any of the options; an option left out takes the defaults' value. Unknown keys, bad patterns
  // and bad values are INVALID_ARGUMENT naming `file_name`, the line and the reason.
  static absl::StatusOr<TopicRules> Parse(absl::string_view text, absl::string_view file_name,
                                          const TopicRule& defaults);
  static absl::StatusOr<TopicRules> Load(const std::string& path, const TopicRule& defaults);

  // The first rule whose pattern matches `topic` (a valid topic), or the defaults.
  const TopicRule& For(absl::string_view topic) const;

  const std::vector<TopicRule>& rules() const { return rules_; }
  const TopicRule& defaults() const { return defaults_; }
  // The effective rules, one per line, then the defaults.
  std::string Describe() const;

 private:
  std::vector<TopicRule> rules_;
  TopicRule defaults_;
};

// The rules in force, shared by everything that applies them; SIGHUP replaces them. Thread-safe.
class TopicRulesStore {
 public:
  // Only the defaults; Load reads `path` (none when empty).
  TopicRulesStore(std::string path, TopicRule defaults);

  // Reads the file again: the new rules take over, or, when the file does not load, the rules
  // in force stay and the error says why.
  absl::Status Load();

  // The rules, and with `generation` the generation they belong to.
  std::shared_ptr<const TopicRules> current(uint64_t* generation = nullptr) const;
  // Changes with every successful Load: a holder of one topic's rule looks it up again when it
  // differs from the one it looked up under (any thread, without a lock).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const TopicRule defaults_;
  mutable absl::Mutex mutex_;
  std::shared_ptr<const TopicRules> current_ ABSL_GUARDED_BY(mutex_);
  std::atomic<uint64_t> generation_{1};
};

// `rules`, or when null, rules that give every topic `history_size` events for `history_ttl`.
std::shared_ptr<const TopicRulesStore> RulesOrDefaults(std::shared_ptr<const TopicRulesStore> rules,
                                                       size_t history_size,
                                                       absl::Duration history_ttl);

}  // namespace herald
