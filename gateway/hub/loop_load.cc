// Loop load notes.
#include "hub/loop_load.h"

#include <chrono>

namespace herald {

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool LoopLoad::WriteBacklogged(size_t attached) const {
  size_t overdrawn = overdrawn_queues();
  return overdrawn >= kMinBackloggedQueues &&
         (overdrawn * kBacklogShare >= attached || overdrawn >= kEnoughBackloggedQueues);
}

void LoopLoad::NoteWriteWait(absl::Duration waited) {
  // The longest within the window.
  int64_t now = SteadyNowNs();
  int64_t wait_ns = absl::ToInt64Nanoseconds(waited);
  bool recent = now - write_wait_noted_ns_.load(std::memory_order_relaxed) <=
                absl::ToInt64Nanoseconds(kNoteWindow);
  if (recent && wait_ns < write_wait_ns_.load(std::memory_order_relaxed)) return;
  write_wait_ns_.store(wait_ns, std::memory_order_relaxed);
  write_wait_noted_ns_.store(now, std::memory_order_relaxed);
}

absl::Duration LoopLoad::WriteWait() const {
  int64_t noted = write_wait_noted_ns_.load(std::memory_order_relaxed);
  if (noted == 0 || SteadyNowNs() - noted > absl::ToInt64Nanoseconds(kNoteWindow)) {
    return absl::ZeroDuration();
  }
  return absl::Nanoseconds(write_wait_ns_.load(std::memory_order_relaxed));
}

}  // namespace herald
