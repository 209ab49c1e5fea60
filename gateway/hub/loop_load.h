// What one event loop's connections note about its writes: the loop-level evidence the
// overload policy (PublishAdmission, through Hub::DeliveryLag and Hub::WriteBacklogged) judges.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace herald {

// Thread-safe (relaxed atomics: a note lost to a race between two loops is only one of many).
class LoopLoad {
 public:
  // How long a note counts.
  static constexpr absl::Duration kNoteWindow = absl::Milliseconds(250);

  // A connection of this loop had to queue past its limit while its peer was reading (see
  // RoomForLive): the loop writes more slowly than events come.
  void NoteWriteBacklog();
  // Whether NoteWriteBacklog was called within the last kNoteWindow.
  bool WriteBacklogged() const;
  // Events queued for a peer that reads wait about `waited` to be written (over TLS the loop's
  // writes are its work).
  void NoteWriteWait(absl::Duration waited);
  // The longest write wait noted within the last kNoteWindow (zero when none).
  absl::Duration WriteWait() const;

 private:
  std::atomic<int64_t> write_backlog_ns_{0};     // When NoteWriteBacklog was last called.
  std::atomic<int64_t> write_wait_ns_{0};        // The last wait NoteWriteWait was given,
  std::atomic<int64_t> write_wait_noted_ns_{0};  // and when.
};

// The steady clock in nanoseconds (the hub's time stamps).
int64_t SteadyNowNs();

}  // namespace herald
