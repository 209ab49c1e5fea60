// Bytes of history answers being written at once, gateway-wide: clients that ask and do not
// read cannot pin memory without bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace herald {

// Thread-safe. An answer takes its size before it is written and gives it back when the write
// ends (or the connection does).
class AnswerBudget {
 public:
  // 0: no cap.
  explicit AnswerBudget(size_t max_bytes) : max_bytes_(max_bytes) {}
  AnswerBudget(const AnswerBudget&) = delete;
  AnswerBudget& operator=(const AnswerBudget&) = delete;

  // A place for `bytes` more, given back when the last copy of the handle goes; null when it
  // would pass the cap. The budget must outlive the handle. An answer larger than the whole
  // cap is refused too: fits() tells it apart (ask for fewer events, not later).
  std::shared_ptr<void> Take(size_t bytes);

  size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  bool fits(size_t bytes) const { return max_bytes_ == 0 || bytes <= max_bytes_; }

 private:
  const size_t max_bytes_;
  std::atomic<size_t> in_use_{0};
};

}  // namespace herald
