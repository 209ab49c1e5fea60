// What one event loop's connections show about its writes: the loop-level evidence the overload
// policy (PublishAdmission, through Hub::DeliveryLag and Hub::WriteBacklogged) judges.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "metrics/metrics.h"
#include "metrics/prometheus_text.h"

namespace herald {

// Thread-safe (relaxed atomics). Connections report here; the loop is judged as a whole, so one
// connection alone, whatever its peer does, never makes the loop look behind. What the loop's
// connections wrote is kept here too, for the metrics (summed over loops at scrape time).
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

  // A write of `bytes` to a `transport` connection started (once per write, not per event).
  void CountSentBytes(TransportKind transport, size_t bytes) {
    sent_bytes_[static_cast<size_t>(transport)].fetch_add(bytes, std::memory_order_relaxed);
  }
  uint64_t sent_bytes(TransportKind transport) const {
    return sent_bytes_[static_cast<size_t>(transport)].load(std::memory_order_relaxed);
  }
  // The bytes waiting in the loop's connection queues changed by `change` (each queue reports
  // in steps; see OutgoingQueue).
  void CountQueuedBytes(int64_t change) {
    queued_bytes_.fetch_add(change, std::memory_order_relaxed);
  }
  uint64_t queued_bytes() const {
    int64_t bytes = queued_bytes_.load(std::memory_order_relaxed);
    return bytes < 0 ? 0 : static_cast<uint64_t>(bytes);
  }
  // Sampled delivery lags: from a publish accepted to its event written to a socket.
  DurationHistogram& delivery_lag() { return delivery_lag_; }
  const DurationHistogram& delivery_lag() const { return delivery_lag_; }

 private:
  std::atomic<int64_t> overdrawn_queues_{0};
  std::atomic<int64_t> write_wait_ns_{0};        // The last wait NoteWriteWait was given,
  std::atomic<int64_t> write_wait_noted_ns_{0};  // and when.
  std::array<std::atomic<uint64_t>, kTransportKinds> sent_bytes_{};
  std::atomic<int64_t> queued_bytes_{0};
  DurationHistogram delivery_lag_;
};

// The steady clock in nanoseconds (the hub's time stamps).
int64_t SteadyNowNs();

}  // namespace herald
