// RefusalBudget: the flood policy of the console and the gRPC gate, on a
// clock the tests move.
#include "authz/refusal_budget.h"

#include <gtest/gtest.h>

#include "common/testing/fake_clock.h"

namespace dx::authz {
namespace {

TEST(RefusalBudgetTest, PastTheBudgetRefusalsAreCountedAndTheCountIsDue) {
  FakeClock clock(absl::FromUnixSeconds(1764000000));  // a minute's start
  RefusalBudget budget(&clock, 3, 100);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(budget.Take("10.0.0.1").record) << i;
  }
  RefusalBudget::Verdict over = budget.Take("10.0.0.1");
  EXPECT_FALSE(over.record);
  EXPECT_TRUE(over.first_over);
  EXPECT_EQ(over.window_end, absl::FromUnixSeconds(1764000000 + 60));
  clock.Advance(absl::Seconds(10));
  over = budget.Take("10.0.0.1");
  EXPECT_FALSE(over.record);
  EXPECT_FALSE(over.first_over);
  // Another address has its own budget.
  EXPECT_TRUE(budget.Take("10.0.0.2").record);
  // The next minute: the address starts again, and its count is due.
  clock.Advance(absl::Seconds(55));
  RefusalBudget::Verdict next = budget.Take("10.0.0.2");
  EXPECT_TRUE(next.record);
  ASSERT_EQ(next.due.size(), 1u);
  EXPECT_EQ(next.due[0].address, "10.0.0.1");
  EXPECT_EQ(next.due[0].refusals, 2u);
  EXPECT_EQ(next.due[0].to - next.due[0].from, absl::Seconds(10));
  EXPECT_TRUE(budget.Take("10.0.0.1").record);
  EXPECT_TRUE(budget.Drain().empty());  // nothing counted this minute
}

TEST(RefusalBudgetTest, ManyAddressesShareOneWindowAndStopDrainsTheCounts) {
  FakeClock clock(absl::FromUnixSeconds(1764000000));
  RefusalBudget budget(&clock, 1, 2);
  EXPECT_TRUE(budget.Take("a").record);
  EXPECT_TRUE(budget.Take("b").record);
  // The map is full: newcomers share "(other addresses)".
  EXPECT_TRUE(budget.Take("c").record);
  EXPECT_FALSE(budget.Take("d").record);
  EXPECT_FALSE(budget.Take("a").record);
  std::vector<RefusalBudget::Count> left = budget.Drain();
  ASSERT_EQ(left.size(), 2u);
  uint64_t total = 0;
  for (const auto& c : left) total += c.refusals;
  EXPECT_EQ(total, 2u);
  EXPECT_TRUE(budget.Drain().empty());
}

TEST(RefusalBudgetTest, TakeDueGivesTheCountsOfMinutesOverWithoutARefusal) {
  FakeClock clock(absl::FromUnixSeconds(1764000000));
  RefusalBudget budget(&clock, 1, 100);
  EXPECT_TRUE(budget.Take("policy-admin:eve").record);
  EXPECT_FALSE(budget.Take("policy-admin:eve").record);
  EXPECT_FALSE(budget.Take("policy-admin:eve").record);
  // Its minute is not over: nothing due yet, and the count is kept.
  EXPECT_TRUE(budget.TakeDue().empty());
  clock.Advance(absl::Seconds(60));
  std::vector<RefusalBudget::Count> due = budget.TakeDue();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].address, "policy-admin:eve");
  EXPECT_EQ(due[0].refusals, 2u);
  // Given once.
  EXPECT_TRUE(budget.TakeDue().empty());
  EXPECT_TRUE(budget.Drain().empty());
}

}  // namespace
}  // namespace dx::authz
