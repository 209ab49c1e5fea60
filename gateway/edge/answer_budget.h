// Bytes of history answers being written at once, gateway-wide and per owner: clients that ask
// and do not read cannot pin memory without bound, nor take the whole budget from others.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace herald {

// Thread-safe. An answer takes its size before it is written and gives it back when the write
// ends (or the connection does).
class AnswerBudget {
 public:
  // Each owner (a credential, or a client address when there is none) holds at most this part
  // of the budget: one that never reads its answers leaves the rest to the others.
  static constexpr size_t kOwnerShare = 4;

  // 0: no cap.
  explicit AnswerBudget(size_t max_bytes) : max_bytes_(max_bytes) {}
  AnswerBudget(const AnswerBudget&) = delete;
  AnswerBudget& operator=(const AnswerBudget&) = delete;

  // A place for `bytes` more for `owner`, given back when the last copy of the handle goes;
  // null when it would pass the cap or the owner's share. The budget must outlive the handle.
  // An answer larger than an owner's share is refused too: fits() tells it apart (ask for fewer
  // events, not later).
  std::shared_ptr<void> Take(size_t bytes, const std::string& owner);

  size_t in_use() const;
  bool fits(size_t bytes) const { return max_bytes_ == 0 || bytes <= owner_bytes(); }
  // What one owner may hold at once.
  size_t owner_bytes() const { return max_bytes_ / kOwnerShare; }

 private:
  void GiveBack(size_t bytes, const std::string& owner);

  const size_t max_bytes_;
  mutable absl::Mutex mutex_;
  size_t in_use_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::flat_hash_map<std::string, size_t> in_use_by_owner_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace herald
