// A connection's bounded queue of encoded bytes, drained by one write at a time.
#pragma once

#include <boost/asio/buffer.hpp>
#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace herald {

// Not thread-safe: used on the owning loop only.
class OutgoingQueue {
 public:
  // `max_bytes` bounds what is queued live; `max_replay_bytes` more may be queued by replays.
  OutgoingQueue(size_t max_bytes, size_t max_replay_bytes)
      : max_bytes_(max_bytes), max_total_bytes_(max_bytes + max_replay_bytes) {}

  // Queues `bytes` unless the bytes pending through Push would pass the limit; returns false
  // then.
  bool Push(std::shared_ptr<const std::string> bytes);
  // Queues replayed bytes (held by history anyway) outside the live limit, within the total
  // limit; returns false past it.
  bool PushReplayed(std::shared_ptr<const std::string> bytes);
  // Queues `bytes` whatever the limits: the last words before a close.
  void PushLastWords(std::shared_ptr<const std::string> bytes);
  void DropPending();

  bool has_pending() const { return !pending_.empty(); }
  // Bytes PushReplayed would still take.
  size_t replay_room() const {
    return max_total_bytes_ - std::min(max_total_bytes_, pending_bytes_);
  }
  bool writing() const { return writing_; }
  size_t pending_bytes() const { return pending_bytes_; }

  // Moves what is pending, up to about 256 KiB (at least one piece), into one batch for a write
  // and returns its buffers, which stay valid until CompleteWrite(). Only when !writing() and
  // has_pending(). A batch of many pieces is copied into one buffer: a gather write of
  // thousands of small buffers costs far more in the stream's bookkeeping than one copy.

  const std::vector<boost::asio::const_buffer>& StartWrite();
  void CompleteWrite();

 private:
  size_t max_bytes_;
  size_t max_total_bytes_;
  size_t pending_bytes_ = 0;
  size_t limited_bytes_ = 0;  // The part of pending_bytes_ queued through Push.
  bool writing_ = false;
  struct Piece {
    std::shared_ptr<const std::string> bytes;
    bool live;  // Queued through Push: counts toward max_bytes_.
  };
  void Append(std::shared_ptr<const std::string> bytes, bool live);

  std::deque<Piece> pending_;
  std::vector<std::shared_ptr<const std::string>> in_flight_;
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
