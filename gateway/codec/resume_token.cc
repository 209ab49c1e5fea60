// SSE resume tokens.
#include "codec/resume_token.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace herald {
namespace {

constexpr size_t kMaxEpochBytes = 64;

bool IsEpoch(absl::string_view epoch) {
  if (epoch.empty() || epoch.size() > kMaxEpochBytes) return false;
  for (char c : epoch) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

void AppendResumeToken(const std::vector<TopicPosition>& positions, std::string* out) {
  for (size_t i = 0; i < positions.size(); ++i) {
    if (i > 0) out->push_back('.');
    absl::StrAppend(out, positions[i].epoch, "-", positions[i].offset);
  }
}

std::string EncodeResumeToken(const std::vector<TopicPosition>& positions) {
  std::string token;
  AppendResumeToken(positions, &token);
  return token;
}

std::optional<std::vector<TopicPosition>> DecodeResumeToken(absl::string_view token,
                                                            size_t topic_count) {
  if (token.empty() || topic_count == 0) return std::nullopt;
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != topic_count) return std::nullopt;
  std::vector<TopicPosition> positions;
  positions.reserve(parts.size());
  for (absl::string_view part : parts) {
    size_t dash = part.rfind('-');
    if (dash == absl::string_view::npos) return std::nullopt;
    TopicPosition position;
    absl::string_view epoch = part.substr(0, dash);
    absl::string_view offset = part.substr(dash + 1);
    if (offset.empty() || !absl::ascii_isdigit(offset[0]) ||
        !absl::SimpleAtoi(offset, &position.offset)) {
      return std::nullopt;
    }
    // "-0": the topic had no history when the position was taken (from GET /v1/history), so
    // everything it holds now is new.
    if (!IsEpoch(epoch) && !(epoch.empty() && position.offset == 0)) return std::nullopt;
    position.epoch = std::string(epoch);
    positions.push_back(std::move(position));
  }
  return positions;
}

}  // namespace herald
