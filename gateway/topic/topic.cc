// Topic grammar.
#include "topic/topic.h"

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == ':' || c == '@' || c == '=' || c == '.';
}

}  // namespace

absl::Status ValidateTopic(absl::string_view topic) {
  if (topic.empty()) return absl::InvalidArgumentError("topic is empty");
  if (topic.size() > kMaxTopicBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic is longer than ", kMaxTopicBytes, " bytes"));
  }
  char previous = '.';
  for (char c : topic) {
    if (!IsTopicChar(c)) {
      return absl::InvalidArgumentError(
          "topic may only contain letters, digits and _ - : @ = .");
    }
    if (c == '.' && previous == '.') {
      return absl::InvalidArgumentError("topic has an empty segment");
    }
    previous = c;
  }
  if (previous == '.') return absl::InvalidArgumentError("topic has an empty segment");
  return absl::OkStatus();
}

}  // namespace herald
