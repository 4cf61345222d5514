#include "policy/quota_store_conformance.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "gmock/gmock.h"

namespace dx::policy {

using ::testing::ElementsAre;

void QuotaStoreConformance::SetUp() {
  store_ = GetParam().make();
  prefix_ = HexEncode(certs::RandomBytes(4));
}

QuotaBucket QuotaStoreConformance::Bucket(const std::string& name,
                                          const std::string& what,
                                          uint64_t capacity,
                                          int64_t later) const {
  const absl::Time now = absl::Now();
  const int64_t window =
      (what == "rpd" ? VietnamDayWindow(now) : MinuteWindow(now)) + later;
  return {absl::StrCat(prefix_, "/", name, "/", what), window, capacity};
}

absl::StatusOr<QuotaTakeResult> QuotaStoreConformance::TakeNow(
    QuotaStore& store, std::vector<QuotaTake> takes) {
  absl::Notification done;
  absl::StatusOr<QuotaTakeResult> out;
  store.Take(std::move(takes), nullptr, [&](absl::StatusOr<QuotaTakeResult> r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

std::string QuotaFactoryName(
    const ::testing::TestParamInfo<QuotaStoreFactory>& info) {
  return info.param.name;
}

TEST_P(QuotaStoreConformance, TakesFromEveryBucketOrFromNone) {
  const QuotaBucket minute = Bucket("q", "rpm", 2);
  const QuotaBucket day = Bucket("q", "rpd", 10);
  auto r = TakeNow(*store_, {{minute, 1, 1}, {day, 1, 4}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->granted);
  EXPECT_THAT(r->taken, ElementsAre(1, 4));
  // As many as are left, up to the most asked.
  r = TakeNow(*store_, {{minute, 1, 1}, {day, 1, 100}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->granted);
  EXPECT_THAT(r->taken, ElementsAre(1, 6));
  // The minute is used up: nothing is taken from the day either.
  store_->PutBack(day, 5);
  r = TakeNow(*store_, {{minute, 1, 1}, {day, 1, 5}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->granted);
  EXPECT_EQ(r->short_bucket, 0u);
  r = TakeNow(*store_, {{day, 5, 5}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->granted);
  r = TakeNow(*store_, {{day, 1, 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->granted);
}

TEST_P(QuotaStoreConformance, AtLeastTheMinimumOrNothing) {
  const QuotaBucket day = Bucket("min", "rpd", 10);
  auto r = TakeNow(*store_, {{day, 7, 7}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->granted);
  r = TakeNow(*store_, {{day, 4, 10}});  // 3 left
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->granted);
  r = TakeNow(*store_, {{day, 3, 10}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->granted);
  EXPECT_THAT(r->taken, ElementsAre(3));
}

TEST_P(QuotaStoreConformance, EachWindowStartsFullAndLatePutBacksAreIgnored) {
  const QuotaBucket now = Bucket("w", "rpm", 1);
  const QuotaBucket next = Bucket("w", "rpm", 1, 1);
  ASSERT_TRUE(TakeNow(*store_, {{now, 1, 1}})->granted);
  EXPECT_FALSE(TakeNow(*store_, {{now, 1, 1}})->granted);
  ASSERT_TRUE(TakeNow(*store_, {{next, 1, 1}})->granted);
  store_->PutBack(now, 1);  // for a window no longer asked for
  EXPECT_FALSE(TakeNow(*store_, {{next, 1, 1}})->granted);
}

TEST_P(QuotaStoreConformance, WhatAChargeDidNotUseComesBack) {
  const QuotaBucket day = Bucket("charge", "rpd", 10);
  {
    auto r = TakeNow(*store_, {{day, 1, 10}});
    ASSERT_TRUE(r.ok() && r->granted);
    QuotaCharge charge(store_.get(), day, r->taken[0]);
    EXPECT_EQ(charge.taken(), 10u);
    EXPECT_FALSE(TakeNow(*store_, {{day, 1, 1}})->granted);
    charge.Use(3);
  }
  auto r = TakeNow(*store_, {{day, 7, 7}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->granted);
  EXPECT_FALSE(TakeNow(*store_, {{day, 1, 1}})->granted);
}

TEST_P(QuotaStoreConformance, ConcurrentTakesAdmitExactlyTheCapacity) {
  const QuotaBucket minute = Bucket("many", "rpm", 100);
  std::atomic<int> admitted{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 30; ++i) {
        auto r = TakeNow(*store_, {{minute, 1, 1}});
        if (!r.ok()) {
          ++failed;
        } else if (r->granted) {
          ++admitted;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  // One node alone: never more, and nothing held back from itself.
  EXPECT_EQ(admitted.load(), 100);
}

TEST_P(QuotaStoreConformance, NodesSharingCountersNeverAdmitMoreTogether) {
  if (!GetParam().shared) GTEST_SKIP() << "each node counts on its own";
  std::unique_ptr<QuotaStore> other = GetParam().make();
  const QuotaBucket day = Bucket("shared", "rpd", 20);
  auto r = TakeNow(*store_, {{day, 20, 20}});
  ASSERT_TRUE(r.ok() && r->granted) << r.status();
  r = TakeNow(*other, {{day, 1, 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->granted) << "the second node took a token the first spent";
  // Another bucket is untouched, whichever node asks.
  r = TakeNow(*other, {{Bucket("shared-2", "rpd", 20), 20, 20}});
  ASSERT_TRUE(r.ok() && r->granted) << r.status();
}

}  // namespace dx::policy
