#include "policy/text_diff.h"

#include "gtest/gtest.h"

namespace dx::policy {
namespace {

TEST(TextDiffTest, EqualTextsHaveNoDiff) {
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
}

TEST(TextDiffTest, NearbyChangesShareAHunk) {
  const std::string before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  const std::string after = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n10\n";
  EXPECT_EQ(
      UnifiedDiff(before, after, "r1", "r2"),
      "--- r1\n+++ r2\n"
      "@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n 9\n+10\n \n");
}

TEST(TextDiffTest, DistantChangesGetTheirOwnHunks) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 2 ? "two" : i == 18 ? "eighteen" : std::to_string(i)) + "\n";
  }
  EXPECT_EQ(UnifiedDiff(before, after, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
            "@@ -15,7 +15,7 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n \n");
}

}  // namespace
}  // namespace dx::policy
