// The budget of history answers being written.
#include "edge/answer_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace herald {
namespace {

TEST(AnswerBudget, AnAnswerHoldsItsPlaceUntilItsHandleGoes) {
  AnswerBudget budget(400);  // 100 per owner.
  std::shared_ptr<void> first = budget.Take(60, "a");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(budget.Take(41, "a"), nullptr);  // 60 + 41 > 100: refused, and takes nothing.
  EXPECT_EQ(budget.in_use(), 60u);
  std::shared_ptr<void> second = budget.Take(40, "a");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(budget.in_use(), 100u);
  std::shared_ptr<void> copy = first;  // Copies share one place.
  first.reset();
  EXPECT_EQ(budget.in_use(), 100u);
  copy.reset();
  EXPECT_EQ(budget.in_use(), 40u);
  EXPECT_NE(budget.Take(60, "a"), nullptr);  // Taken and given back at once.
  EXPECT_EQ(budget.in_use(), 40u);
}

// A reader that never reads its answers holds at most its share; the others take the rest.
TEST(AnswerBudget, EachOwnerHoldsAtMostItsShare) {
  AnswerBudget budget(400);
  std::shared_ptr<void> eve = budget.Take(100, "eve");
  ASSERT_NE(eve, nullptr);
  EXPECT_EQ(budget.Take(1, "eve"), nullptr);
  std::vector<std::shared_ptr<void>> others;
  for (const char* owner : {"ada", "bob", "cy"}) others.push_back(budget.Take(100, owner));
  for (const auto& place : others) EXPECT_NE(place, nullptr);
  EXPECT_EQ(budget.Take(1, "dan"), nullptr);  // The budget as a whole is used up.
  others.clear();
  EXPECT_NE(budget.Take(100, "dan"), nullptr);
  EXPECT_TRUE(budget.fits(100));
  EXPECT_FALSE(budget.fits(101));  // Larger than any one owner may hold: never given.
}

TEST(AnswerBudget, ZeroMeansNoCap) {
  AnswerBudget budget(0);
  std::shared_ptr<void> large = budget.Take(size_t{1} << 40, "a");
  EXPECT_NE(large, nullptr);
}

}  // namespace
}  // namespace herald
