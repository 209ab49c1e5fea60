// Topic pattern matching, segment by segment.
#include "auth/topic_pattern.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "topic/topic.h"

namespace herald {

absl::Status ValidateTopicPattern(absl::string_view pattern) {
  auto bad = [pattern](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("bad topic pattern '", pattern, "': ", why));
  };
  if (pattern.empty()) return absl::InvalidArgumentError("topic pattern is empty");
  if (pattern.size() > kMaxTopicBytes) return bad("longer than 255 bytes");
  std::vector<absl::string_view> segments = absl::StrSplit(pattern, '.');
  for (size_t i = 0; i < segments.size(); ++i) {
    absl::string_view segment = segments[i];
    if (segment.empty()) return bad("an empty segment");
    if (segment == "*") continue;
    if (segment == ">") {
      if (i + 1 != segments.size()) return bad("'>' may only be the last segment");
      continue;
    }
    if (absl::Status status = ValidateTopic(segment); !status.ok()) return bad(status.message());
  }
  return absl::OkStatus();
}

bool TopicPatternMatches(absl::string_view pattern, absl::string_view topic) {
  while (true) {
    size_t pattern_dot = pattern.find('.');
    size_t topic_dot = topic.find('.');
    absl::string_view pattern_segment = pattern.substr(0, pattern_dot);
    absl::string_view topic_segment = topic.substr(0, topic_dot);
    if (pattern_segment == ">") {
      // The rest, at least one segment; `>` is the pattern's last segment.
      return pattern_dot == absl::string_view::npos && !topic.empty();
    }
    if (pattern_segment.empty() || topic_segment.empty()) return false;
    if (pattern_segment != "*" && pattern_segment != topic_segment) return false;
    bool pattern_ends = pattern_dot == absl::string_view::npos;
    bool topic_ends = topic_dot == absl::string_view::npos;
    if (pattern_ends || topic_ends) return pattern_ends && topic_ends;
    pattern.remove_prefix(pattern_dot + 1);
    topic.remove_prefix(topic_dot + 1);
  }
}

}  // namespace herald
