// The history answer budget.
#include "edge/answer_budget.h"

namespace herald {

std::shared_ptr<void> AnswerBudget::Take(size_t bytes) {
  size_t before = in_use_.fetch_add(bytes, std::memory_order_relaxed);
  if (max_bytes_ != 0 && before + bytes > max_bytes_) {
    in_use_.fetch_sub(bytes, std::memory_order_relaxed);
    return nullptr;
  }
  return std::shared_ptr<void>(this, [bytes](AnswerBudget* budget) {
    budget->in_use_.fetch_sub(bytes, std::memory_order_relaxed);
  });
}

}  // namespace herald
