#include "bench/process_cpu.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

namespace dx::bench {
namespace {

TEST(ProcessCpuTest, ReadsUserPlusSystemTicks) {
  // Fields 14 and 15 are 250 and 50 ticks; a command name with a space
  // and a ')' must not shift them.
  const char* stat =
      "4242 (dx gate) worker) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 "
      "7 9 20 0 12 0 5000 100000 300";
  absl::StatusOr<double> s = CpuSecondsFromStat(stat, 100);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(*s, 3.0);
}

TEST(ProcessCpuTest, RefusesWhatIsNotAStatLine) {
  EXPECT_FALSE(CpuSecondsFromStat("", 100).ok());
  EXPECT_FALSE(CpuSecondsFromStat("12 (x) S 1 2", 100).ok());
  EXPECT_FALSE(
      CpuSecondsFromStat("12 (x) S 1 2 3 4 5 6 7 8 9 10 u s", 100).ok());
  EXPECT_FALSE(ProcessCpuSeconds(-1).ok());
}

TEST(ProcessCpuTest, OwnProcessGrowsWithWork) {
  absl::StatusOr<double> before = ProcessCpuSeconds(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  // Spin until the reading moves (a tick is 10 ms of CPU); a reading that
  // never moves fails after 20 s, whatever the machine's load.
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  volatile uint64_t x = 0;
  double now = *before;
  while (now <= *before && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < 1000000; ++i) x = x + 1;
    absl::StatusOr<double> s = ProcessCpuSeconds(getpid());
    ASSERT_TRUE(s.ok()) << s.status();
    now = *s;
  }
  EXPECT_GT(now, *before);
}

}  // namespace
}  // namespace dx::bench
