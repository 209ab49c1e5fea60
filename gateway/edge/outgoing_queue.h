// A connection's bounded queue of encoded bytes, drained by one write at a time.
#pragma once

#include <boost/asio/buffer.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <optional>

#include "hub/loop_load.h"

namespace herald {

// How a run of message bytes is framed on the wire: `header` writes the header for
// `payload_bytes` into `out` (at most kMaxFrameHeaderBytes) and returns its size; `trailer`
// follows the run. No header means message bytes leave as they are.
inline constexpr size_t kMaxFrameHeaderBytes = 24;
struct MessageFraming {
  size_t (*header)(size_t payload_bytes, char* out) = nullptr;
  std::string_view trailer;
};

// Not thread-safe: its owner serializes the calls (a session on its loop, whose methods assert
// it; a gRPC stream with its mutex).
//
// Queued bytes are either message bytes or unframed bytes. Message bytes queued one after the
// other leave as one message of the transport (a WebSocket frame, an HTTP chunk) that the
// queue's MessageFraming wraps around them at write time; unframed bytes (protocol frames, a
// response head) leave as they are. Shared bytes (an event's encoding) are referenced, never
// copied; small bytes of the connection's own (an SSE `id:` line) are copied into the queue's
// own buffer, so no delivery allocates.
class OutgoingQueue {
 public:
  // A write takes about this much of what is pending (whole pieces); the rest waits for the next.
  static constexpr size_t kMaxWriteBytes = 256 * 1024;

  // Bytes of difference between what a queue holds and what it last reported to its loop that
  // make it report again (the loop's queued bytes are exact to this much per connection, and a
  // queue that keeps up reports nothing).
  static constexpr size_t kQueuedReportStep = 64 * 1024;

  // `max_bytes` bounds what is queued live; `max_replay_bytes` more may be queued by replays.
  // `load`, when given, counts this queue among its loop's overdrawn ones while it is (see
  // Overdraw), and learns what a `transport` connection wrote and holds; it must outlive the
  // queue.
  OutgoingQueue(size_t max_bytes, size_t max_replay_bytes, MessageFraming framing = {},
                LoopLoad* load = nullptr, TransportKind transport = TransportKind::kWebSocket)
      : max_bytes_(max_bytes),
        max_total_bytes_(max_bytes + max_replay_bytes),
        framing_(framing),
        load_(load),
        transport_(transport) {}
  ~OutgoingQueue() {
    SetOverdrawn(false);
    if (load_ != nullptr) load_->CountQueuedBytes(-reported_queued_bytes_);
  }
  OutgoingQueue(const OutgoingQueue&) = delete;
  OutgoingQueue& operator=(const OutgoingQueue&) = delete;

  // Sets the framing; only before anything is queued.
  void set_framing(MessageFraming framing) { framing_ = framing; }

  // Queues message `bytes` unless the bytes pending through Push would pass the limit; returns
  // false then.
  bool Push(std::shared_ptr<const std::string> bytes);
  // Bytes Push and PushCopy (live) would still take.
  size_t live_room() const { return live_limit() - std::min(live_limit(), limited_bytes_); }
  // Doubles the live limit until the live bytes pending are back under it: for a peer that
  // reads while the gateway writes more slowly than events come (see RoomForLive). Meanwhile
  // the queue counts among its loop's overdrawn ones.
  void Overdraw() { SetOverdrawn(true); }
  bool overdrawn() const { return overdrawn_; }
  // Queues replayed message bytes (held by history anyway) outside the live limit, within the
  // total limit; returns false past it.
  bool PushReplayed(std::shared_ptr<const std::string> bytes);
  // Queues a copy of message `bytes`, within the live limit or, `replayed`, the total limit;
  // returns false past it.
  bool PushCopy(std::string_view bytes, bool replayed);
  // Queues message `bytes` whatever the limits: the last words before a close.
  void PushLastWords(std::shared_ptr<const std::string> bytes);
  // Queues `bytes` to leave as they are, whatever the limits (small protocol frames).
  void PushUnframed(std::shared_ptr<const std::string> bytes);
  // Queues one message of a transport that frames each message itself and writes one at a time
  // (a gRPC stream): `bytes`, which lie within *owner (shared, not copied), then a copy of the
  // small `suffix`. Within the live limit or, `replayed`, the total limit; false past it.
  bool PushMessage(std::shared_ptr<const std::string> owner, std::string_view bytes,
                   std::string_view suffix, bool replayed);
  // Drops what is pending; a batch already started still completes.
  void DropPending();
  // The live event just queued was published at `published_unix_ms`: unless one is already
  // being timed, the time until its last byte is handed to the socket goes to the loop's
  // delivery lag histogram. One at a time: the cost is per write, never per event.
  void SampleDeliveryLag(int64_t published_unix_ms) {
    if (load_ == nullptr || lag_sample_ || published_unix_ms <= 0) return;
    lag_sample_ = LagSample{sent_bytes_ + pending_bytes_, published_unix_ms};
  }

  // Bytes wait for a write: queued, or the rest of a batch partly written.
  bool has_pending() const {
    return pending_head_ < pending_.size() || (!writing_ && !buffers_.empty());
  }
  // Bytes PushReplayed would still take.
  size_t replay_room() const {
    return max_total_bytes_ - std::min(max_total_bytes_, pending_bytes_);
  }
  bool writing() const { return writing_; }
  // When the batch being written was started, and its size.
  std::chrono::steady_clock::time_point write_started() const { return write_started_; }
  size_t write_bytes() const { return write_bytes_; }
  // Bytes handed to writes so far (written, or being written), frame headers aside.
  uint64_t sent_bytes() const { return sent_bytes_; }
  // The last look at whether the peer reads (see RoomForLive): when, and what it found.
  struct PeerCheck {
    std::chrono::steady_clock::time_point at;
    bool drains = false;
  };
  const PeerCheck& peer_check() const { return peer_check_; }
  void set_peer_check(PeerCheck check) { peer_check_ = check; }
  size_t pending_bytes() const { return pending_bytes_; }

  // Returns the buffers of the next write: the rest of a batch partly written, or else a new
  // batch of what is pending, up to about 256 KiB (at least one piece). They stay valid until
  // CompleteWrite(). Only when !writing() and has_pending(). A batch that needs more than
  // `max_buffers` buffers (what the writer gathers in one write) is copied into one.
  const std::vector<boost::asio::const_buffer>& StartWrite(size_t max_buffers);
  // Queued bytes: `size` bytes at `offset` of `bytes` (copied pieces share a block).
  struct Piece {
    std::shared_ptr<const std::string> bytes;
    uint32_t offset;
    uint32_t size;
    bool live;                 // Counts toward the live limit.
    bool framed;               // Message bytes (not PushUnframed).
    bool ends_message = true;  // The last piece of what PushMessage queued.
    std::string_view view() const { return std::string_view(*bytes).substr(offset, size); }
  };
  // Starts writing the next message PushMessage queued and returns its pieces, which stay valid
  // until CompleteWrite(write_bytes()). Only when !writing() and has_pending().
  const std::vector<Piece>& StartMessageWrite();
  // Records that the first `written` bytes of StartWrite()'s buffers left; returns true when
  // the whole batch did.
  bool CompleteWrite(size_t written);

 private:
  size_t live_limit() const { return overdrawn_ ? 2 * max_bytes_ : max_bytes_; }
  void SetOverdrawn(bool overdrawn);
  // Tells the loop what the queue holds when that moved by kQueuedReportStep, or `always`.
  void ReportQueuedBytes(bool always);
  void Append(Piece piece);
  void TakeBatch(size_t max_buffers, bool one_message);
  // Appends a copy of `bytes` to the copies block; returns where it starts.
  uint32_t CopyIn(std::string_view bytes);
  void AddBuffer(const char* data, size_t size);

  size_t max_bytes_;
  size_t max_total_bytes_;
  MessageFraming framing_;
  LoopLoad* load_;
  TransportKind transport_;
  int64_t reported_queued_bytes_ = 0;  // What the loop was last told the queue holds.
  struct LagSample {
    uint64_t end;  // sent_bytes_ once the event's last byte is handed to the socket.
    int64_t published_unix_ms;
  };
  std::optional<LagSample> lag_sample_;
  size_t pending_bytes_ = 0;
  size_t limited_bytes_ = 0;  // The part of pending_bytes_ that counts toward max_bytes_.
  bool overdrawn_ = false;
  bool writing_ = false;
  std::chrono::steady_clock::time_point write_started_;
  size_t write_bytes_ = 0;
  uint64_t sent_bytes_ = 0;
  PeerCheck peer_check_;
  // Pieces before pending_head_ were taken by a batch; the vector is compacted now and then, so
  // a long backlog costs no more per batch than what the batch takes.
  std::vector<Piece> pending_;
  size_t pending_head_ = 0;
  // The block copied bytes are appended to. It never reallocates (a full block is replaced), so
  // pieces pointing into it stay valid; once no piece refers to it, it is reused.
  std::shared_ptr<std::string> copies_;
  // The batch being written: its pieces, their copied bytes, the frame headers made for it, and
  // the buffers of what is left of it.
  struct Header {
    std::array<char, kMaxFrameHeaderBytes> bytes;
    size_t size;
  };
  std::vector<Piece> in_flight_;
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
