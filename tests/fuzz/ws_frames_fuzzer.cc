// Fuzzes the reader of client WebSocket frames: bytes in reads of any size, and what it makes of
// them (messages, control frames, protocol errors with their close codes).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "edge/websocket_frames.h"
#include "fuzz_check.h"

namespace herald::fuzz {
namespace {

constexpr size_t kMaxMessageBytes = 1024;

// What the reader made of the bytes, item by item.
struct Seen {
  WsFrameReader::Item::Kind kind;
  bool text;
  std::string payload;
  uint16_t code;
  bool operator==(const Seen&) const = default;
};

// Feeds `bytes` in reads of `read_size` and returns everything the reader reports.
std::vector<Seen> ReadAll(std::string_view bytes, size_t read_size) {
  std::vector<Seen> seen;
  WsFrameReader reader(kMaxMessageBytes);
  while (!bytes.empty()) {
    boost::asio::mutable_buffer room = reader.ReadBuffer();
    HERALD_FUZZ_CHECK(room.size() > 0);
    // The buffer is bounded by the largest frame allowed, whatever arrives.
    HERALD_FUZZ_CHECK(room.size() <= 4 * (kMaxMessageBytes + 14) + 1024);
    size_t size = std::min({room.size(), bytes.size(), read_size});
    std::memcpy(room.data(), bytes.data(), size);
    reader.Commit(size);
    bytes.remove_prefix(size);
    for (;;) {
      WsFrameReader::Item item = reader.Next();
      if (item.kind == WsFrameReader::Item::kNeedMore) break;
      seen.push_back({item.kind, item.text, std::string(item.payload), item.code});
      switch (item.kind) {
        case WsFrameReader::Item::kMessage:
          HERALD_FUZZ_CHECK(item.payload.size() <= kMaxMessageBytes);
          continue;
        case WsFrameReader::Item::kPing:
          HERALD_FUZZ_CHECK(item.payload.size() <= 125);
          continue;
        case WsFrameReader::Item::kPong:
          continue;
        case WsFrameReader::Item::kClose:
          HERALD_FUZZ_CHECK(item.reason.size() <= 123);
          HERALD_FUZZ_CHECK(item.code == 0 || (item.code >= 1000 && item.code <= 4999));
          return seen;
        case WsFrameReader::Item::kError:
          HERALD_FUZZ_CHECK(item.code == 1002 || item.code == 1009);
          HERALD_FUZZ_CHECK(!item.reason.empty());
          return seen;
        case WsFrameReader::Item::kNeedMore:
          break;
      }
    }
  }
  return seen;
}

}  // namespace
}  // namespace herald::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the read size: the same frames split anywhere read the same.
  size_t read_size = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  // However the bytes are split into reads, the reader sees the same frames.
  HERALD_FUZZ_CHECK(herald::fuzz::ReadAll(bytes, read_size) ==
                    herald::fuzz::ReadAll(bytes, SIZE_MAX));
  return 0;
}
