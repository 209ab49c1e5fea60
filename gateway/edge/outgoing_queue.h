// A connection's bounded queue of encoded bytes, drained by one write at a time.
#pragma once

#include <boost/asio/buffer.hpp>
#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

// How a run of message bytes is framed on the wire: `header` writes the header for
// `payload_bytes` into `out` (at most kMaxFrameHeaderBytes) and returns its size; `trailer`
// follows the run. No header means message bytes leave as they are.
inline constexpr size_t kMaxFrameHeaderBytes = 16;
struct MessageFraming {
  size_t (*header)(size_t payload_bytes, char* out) = nullptr;
  std::string_view trailer;
};

// Not thread-safe: used on the owning loop only.
//
// Queued bytes are either message bytes or unframed bytes. Message bytes queued one after the
// other leave as one message of the transport (a WebSocket frame, an HTTP chunk) that the
// queue's MessageFraming wraps around them at write time; unframed bytes (protocol frames, a response
// head) leave as they are. Nothing is copied per piece: a write gathers the pieces themselves.
class OutgoingQueue {
 public:
  // `max_bytes` bounds what is queued live; `max_replay_bytes` more may be queued by replays.
  OutgoingQueue(size_t max_bytes, size_t max_replay_bytes, MessageFraming framing = {})
      : max_bytes_(max_bytes), max_total_bytes_(max_bytes + max_replay_bytes), framing_(framing) {}

  // Sets the framing; only before anything is queued.
  void set_framing(MessageFraming framing) { framing_ = framing; }

  // Queues message `bytes` unless the bytes pending through Push would pass the limit; returns
  // false then.
  bool Push(std::shared_ptr<const std::string> bytes);
  // Queues replayed message bytes (held by history anyway) outside the live limit, within the
  // total limit; returns false past it.
  bool PushReplayed(std::shared_ptr<const std::string> bytes);
  // Queues message `bytes` whatever the limits: the last words before a close.
  void PushLastWords(std::shared_ptr<const std::string> bytes);
  // Queues `bytes` to leave as they are, whatever the limits (small protocol frames).
  void PushUnframed(std::shared_ptr<const std::string> bytes);
  // Drops what is pending; a batch already started still completes.
  void DropPending();

  // Bytes wait for a write: queued, or the rest of a batch partly written.
  bool has_pending() const { return !pending_.empty() || (!writing_ && !buffers_.empty()); }
  // Bytes PushReplayed would still take.
  size_t replay_room() const {
    return max_total_bytes_ - std::min(max_total_bytes_, pending_bytes_);
  }
  bool writing() const { return writing_; }
  size_t pending_bytes() const { return pending_bytes_; }

  // Returns the buffers of the next write: the rest of a batch partly written, or else a new
  // batch of what is pending, up to about 256 KiB (at least one piece). They stay valid until
  // CompleteWrite(). Only when !writing() and has_pending(). A batch of many pieces is copied
  // into one buffer (a gather write takes at most 64 buffers).
  const std::vector<boost::asio::const_buffer>& StartWrite();
  // Records that the first `written` bytes of StartWrite()'s buffers left; returns true when
  // the whole batch did.
  bool CompleteWrite(size_t written);

 private:
  struct Piece {
    std::shared_ptr<const std::string> bytes;
    bool live;    // Queued through Push: counts toward max_bytes_.
    bool framed;  // Message bytes (not PushUnframed).
  };
  void Append(std::shared_ptr<const std::string> bytes, bool live, bool framed);
  void TakeBatch();
  void AddBuffer(const char* data, size_t size);

  size_t max_bytes_;
  size_t max_total_bytes_;
  MessageFraming framing_;
  size_t pending_bytes_ = 0;
  size_t limited_bytes_ = 0;  // The part of pending_bytes_ queued through Push.
  bool writing_ = false;
  std::deque<Piece> pending_;
  // The batch being written: its pieces, the frame headers made for it, and what is left of it.
  struct Header {
    std::array<char, kMaxFrameHeaderBytes> bytes;
    size_t size;
  };
  std::vector<std::shared_ptr<const std::string>> in_flight_;
  std::vector<bool> in_flight_framed_;
  std::vector<Header> headers_;
  std::vector<boost::asio::const_buffer> buffers_;
  std::string coalesced_;
};

// Shares ownership of `owner` while pointing at one of its strings (no copy).
template <typename Owner>
std::shared_ptr<const std::string> SharedBytes(const std::shared_ptr<Owner>& owner,
                                               const std::string& bytes) {
  return std::shared_ptr<const std::string>(owner, &bytes);
}

}  // namespace herald
