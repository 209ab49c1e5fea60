// Waiting on a client's state: re-checks a predicate each time the state's version changes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace herald::testing {

// True once `predicate` holds (it runs without `mutex` held), false when `timeout` passes first.
// The writer bumps `version` under `mutex` and notifies `changed` after each change.
inline bool WaitForVersionedState(std::mutex& mutex, std::condition_variable& changed,
                                  const std::uint64_t& version,
                                  const std::function<bool()>& predicate,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    const std::uint64_t seen = version;
    lock.unlock();
    if (predicate()) return true;
    lock.lock();
    if (!changed.wait_until(lock, deadline, [&] { return version != seen; })) {
      lock.unlock();
      return predicate();
    }
  }
}

}  // namespace herald::testing
