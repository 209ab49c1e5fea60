// The history answer budget.
#include "edge/answer_budget.h"

namespace herald {

std::shared_ptr<void> AnswerBudget::Take(size_t bytes, const std::string& owner) {
  {
    absl::MutexLock lock(&mutex_);
    if (max_bytes_ != 0) {
      auto held = in_use_by_owner_.find(owner);
      size_t owner_held = held == in_use_by_owner_.end() ? 0 : held->second;
      if (in_use_ + bytes > max_bytes_ || owner_held + bytes > owner_bytes()) return nullptr;
    }
    in_use_ += bytes;
    in_use_by_owner_[owner] += bytes;
  }
  return std::shared_ptr<void>(this, [bytes, owner](AnswerBudget* budget) {
    budget->GiveBack(bytes, owner);
  });
}

void AnswerBudget::GiveBack(size_t bytes, const std::string& owner) {
  absl::MutexLock lock(&mutex_);
  in_use_ -= bytes;
  auto held = in_use_by_owner_.find(owner);
  if ((held->second -= bytes) == 0) in_use_by_owner_.erase(held);
}

size_t AnswerBudget::in_use() const {
  absl::MutexLock lock(&mutex_);
  return in_use_;
}

}  // namespace herald
