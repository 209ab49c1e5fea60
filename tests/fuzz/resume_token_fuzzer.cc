// Fuzzes the SSE resume token: what decodes re-encodes to a token that decodes to the same
// positions, and positions encode to a token that decodes back exactly when every epoch is valid.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "codec/resume_token.h"
#include "fuzz_check.h"

namespace herald::fuzz {
namespace {

bool IsValidEpoch(absl::string_view epoch) {
  return !epoch.empty() && epoch.size() <= 64 &&
         std::all_of(epoch.begin(), epoch.end(),
                     [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); });
}

// A valid epoch, or the empty one of a topic without history at offset 0.
bool IsValidPosition(const TopicPosition& position) {
  return IsValidEpoch(position.epoch) || (position.epoch.empty() && position.offset == 0);
}

// The input as a token, decoded for the one topic count it could be made for.
void DecodeToken(absl::string_view token) {
  size_t topic_count = static_cast<size_t>(std::count(token.begin(), token.end(), '.')) + 1;
  HERALD_FUZZ_CHECK(!DecodeResumeToken(token, 0).has_value());
  HERALD_FUZZ_CHECK(!DecodeResumeToken(token, topic_count + 1).has_value());
  if (topic_count > 1) HERALD_FUZZ_CHECK(!DecodeResumeToken(token, topic_count - 1).has_value());
  std::optional<std::vector<TopicPosition>> positions = DecodeResumeToken(token, topic_count);
  if (!positions.has_value()) return;
  HERALD_FUZZ_CHECK(positions->size() == topic_count);
  for (const TopicPosition& position : *positions) HERALD_FUZZ_CHECK(IsValidPosition(position));
  std::string encoded = EncodeResumeToken(*positions);
  HERALD_FUZZ_CHECK(encoded.size() <= token.size());  // The encoding is the shortest form.
  std::optional<std::vector<TopicPosition>> again = DecodeResumeToken(encoded, topic_count);
  HERALD_FUZZ_CHECK(again.has_value());
  HERALD_FUZZ_CHECK(*again == *positions);
  HERALD_FUZZ_CHECK(EncodeResumeToken(*again) == encoded);
}

// The input as positions (made by FuzzedDataProvider), encoded then decoded.
void EncodePositions(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  std::vector<TopicPosition> positions(provider.ConsumeIntegralInRange<size_t>(1, 8));
  bool all_valid = true;
  for (TopicPosition& position : positions) {
    position.epoch = provider.ConsumeRandomLengthString(80);
    position.offset = provider.ConsumeIntegral<uint64_t>();
    all_valid = all_valid && IsValidPosition(position);
  }
  std::string token = EncodeResumeToken(positions);
  std::optional<std::vector<TopicPosition>> decoded = DecodeResumeToken(token, positions.size());
  HERALD_FUZZ_CHECK(decoded.has_value() == all_valid);
  if (decoded.has_value()) HERALD_FUZZ_CHECK(*decoded == positions);
}

}  // namespace
}  // namespace herald::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herald::fuzz::DecodeToken(absl::string_view(reinterpret_cast<const char*>(data), size));
  herald::fuzz::EncodePositions(data, size);
  return 0;
}
