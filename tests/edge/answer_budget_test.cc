// The budget of history answers being written.
#include "edge/answer_budget.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(AnswerBudget, AnAnswerHoldsItsPlaceUntilItsHandleGoes) {
  AnswerBudget budget(100);
  std::shared_ptr<void> first = budget.Take(60);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(budget.Take(41), nullptr);  // 60 + 41 > 100: refused, and takes nothing.
  EXPECT_EQ(budget.in_use(), 60u);
  std::shared_ptr<void> second = budget.Take(40);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(budget.in_use(), 100u);
  std::shared_ptr<void> copy = first;  // Copies share one place.
  first.reset();
  EXPECT_EQ(budget.in_use(), 100u);
  copy.reset();
  EXPECT_EQ(budget.in_use(), 40u);
  EXPECT_NE(budget.Take(60), nullptr);  // Taken and given back at once.
  EXPECT_EQ(budget.in_use(), 40u);
}

TEST(AnswerBudget, ZeroMeansNoCap) {
  AnswerBudget budget(0);
  std::shared_ptr<void> large = budget.Take(size_t{1} << 40);
  EXPECT_NE(large, nullptr);
}

}  // namespace
}  // namespace herald
