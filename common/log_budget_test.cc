#include "common/log_budget.h"

#include <gtest/gtest.h>

#include "common/testing/fake_clock.h"

namespace dx {
namespace {

TEST(LogBudgetTest, AFloodIsCutAndTheNextLineSaysHowManyWereLeftOut) {
  FakeClock clock(absl::FromUnixSeconds(6000));  // a window's start
  LogBudget budget(&clock, 3, absl::Minutes(1));
  uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(budget.Take(&suppressed)) << i;
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(budget.Take(&suppressed)) << i;
  clock.Advance(absl::Seconds(59));  // still the same window
  EXPECT_FALSE(budget.Take(&suppressed));
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(budget.Take(&suppressed));
  EXPECT_EQ(suppressed, 11u);
  // The count was reported once.
  ASSERT_TRUE(budget.Take(&suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(LogBudgetTest, WindowsAreAlignedOnTheClock) {
  // 10:00:59.5 and 10:01:00.1 are in different minutes.
  FakeClock clock(absl::FromUnixMillis(36059500));
  LogBudget budget(&clock, 1, absl::Minutes(1));
  uint64_t suppressed;
  ASSERT_TRUE(budget.Take(&suppressed));
  EXPECT_FALSE(budget.Take(&suppressed));
  clock.Advance(absl::Milliseconds(600));
  ASSERT_TRUE(budget.Take(&suppressed));
  EXPECT_EQ(suppressed, 1u);
}

}  // namespace
}  // namespace dx
