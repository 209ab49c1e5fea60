// The bench payload (publish time as decimal unix ns, padded) and the clock both sides use.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::bench {

// Every payload starts with the publish time as exactly this many decimal digits (unix ns). Text
// keeps it readable on both transports: WS carries the bytes, SSE the same text as a JSON string.
inline constexpr size_t kStampDigits = 19;

// Unix time in ns: publish stamps and receive times both use it (same machine, same clock).
inline int64_t UnixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes the stamp for `unix_ns` padded with '.' to `size` bytes (never shorter than the stamp).
inline void FillPayload(int64_t unix_ns, size_t size, std::string* payload) {
  payload->assign(std::max(size, kStampDigits), '.');
  uint64_t value = static_cast<uint64_t>(unix_ns);
  for (size_t i = kStampDigits; i-- > 0;) {
    (*payload)[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// The publish time a bench payload starts with, if it does.
inline std::optional<int64_t> ParseStamp(std::string_view data) {
  if (data.size() < kStampDigits) return std::nullopt;
  int64_t value = 0;
  auto [end, error] = std::from_chars(data.data(), data.data() + kStampDigits, value);
  if (error != std::errc() || end != data.data() + kStampDigits) return std::nullopt;
  return value;
}

}  // namespace herald::bench
