// Permission checks against a grant's topic patterns.
#include "auth/grant.h"

#include "auth/topic_pattern.h"

namespace herald {
namespace {

bool AnyMatches(const std::vector<std::string>& patterns, absl::string_view topic) {
  for (const std::string& pattern : patterns) {
    if (TopicPatternMatches(pattern, topic)) return true;
  }
  return false;
}

}  // namespace

bool Grant::MaySubscribe(absl::string_view topic) const {
  return open || AnyMatches(subscribe, topic);
}

bool Grant::MayPublish(absl::string_view topic) const { return open || AnyMatches(publish, topic); }

}  // namespace herald
