// What one event loop's connections show about its writes: the loop-level evidence the overload
// policy (PublishAdmission, through Hub::DeliveryLag and Hub::WriteBacklogged) judges.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace herald {

// Thread-safe (relaxed atomics). Connections report here; the loop is judged as a whole, so one
// connection alone, whatever its peer does, never makes the loop look behind.
class LoopLoad {
 public:
  // How long a write-wait note counts.
  static constexpr absl::Duration kNoteWindow = absl::Milliseconds(250);
  // The loop writes more slowly than events come when at least kMinBackloggedQueues of its
  // connections hold more than their queue limit while their peers read (see RoomForLive), and
  // those are 1/kBacklogShare of the clients attached or kEnoughBackloggedQueues anyway (a hot
  // topic followed by a minority of many clients).
  static constexpr size_t kMinBackloggedQueues = 2;
  static constexpr size_t kBacklogShare = 4;
  static constexpr size_t kEnoughBackloggedQueues = 8;

  // A connection's queue passed its limit while its peer reads (+1), or is back under it or
  // gone (-1). Called by OutgoingQueue.
  void CountOverdrawnQueue(int change) {
    overdrawn_queues_.fetch_add(change, std::memory_order_relaxed);
  }
  size_t overdrawn_queues() const {
    int64_t count = overdrawn_queues_.load(std::memory_order_relaxed);
    return count < 0 ? 0 : static_cast<size_t>(count);
  }
  // Whether the loop, with `attached` clients, is behind on its writes (see above).
  bool WriteBacklogged(size_t attached) const;

  // Events queued for a peer that reads wait about `waited` to be written (over TLS the loop's
  // writes are its work).
  void NoteWriteWait(absl::Duration waited);
  // The longest write wait noted within the last kNoteWindow (zero when none).
  absl::Duration WriteWait() const;

 private:
  std::atomic<int64_t> overdrawn_queues_{0};
  std::atomic<int64_t> write_wait_ns_{0};        // The last wait NoteWriteWait was given,
  std::atomic<int64_t> write_wait_noted_ns_{0};  // and when.
};

// The steady clock in nanoseconds (the hub's time stamps).
int64_t SteadyNowNs();

}  // namespace herald
