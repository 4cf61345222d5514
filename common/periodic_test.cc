// Periodic and BackgroundTasks: runs at start when asked, each task on its
// own thread (a stuck one holds no other), and nothing runs after Stop().
#include "common/periodic.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"

namespace dx {
namespace {

// Long enough never to pass in a test run unless something is stuck.
constexpr absl::Duration kPatience = absl::Seconds(60);

TEST(PeriodicTest, RunsAtStartWhenAsked) {
  absl::Notification ran;
  Periodic p(Periodic::Options{absl::Hours(1), /*run_at_start=*/true, "t"},
             [&] {
               if (!ran.HasBeenNotified()) ran.Notify();
             });
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(kPatience));
}

TEST(PeriodicTest, NothingRunsAfterStop) {
  std::atomic<int> runs{0};
  Periodic p(absl::Milliseconds(1), [&] { ++runs; });
  while (runs.load() < 3) std::this_thread::yield();
  p.Stop();
  const int at_stop = runs.load();
  p.Stop();  // idempotent
  EXPECT_EQ(runs.load(), at_stop);
}

TEST(BackgroundTasksTest, AStuckTaskHoldsNoOther) {
  absl::Notification release, stuck;
  std::atomic<int> others{0};
  BackgroundTasks tasks;
  tasks.Add({"stuck", absl::Milliseconds(1),
             [&] {
               if (!stuck.HasBeenNotified()) stuck.Notify();
               release.WaitForNotification();
             },
             true});
  tasks.Add({"other", absl::Milliseconds(1), [&] { ++others; }, true});
  ASSERT_TRUE(stuck.WaitForNotificationWithTimeout(kPatience));
  while (others.load() < 5) std::this_thread::yield();
  release.Notify();
  tasks.Stop();
  const int at_stop = others.load();
  EXPECT_EQ(tasks.names(), (std::vector<std::string>{"stuck", "other"}));
  tasks.Stop();
  EXPECT_EQ(others.load(), at_stop);
}

}  // namespace
}  // namespace dx
