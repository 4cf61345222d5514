#include "replay/in_memory_replay_store.h"

#include <gtest/gtest.h>

#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "replay/replay_store_conformance.h"

namespace dx::replay {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, ReplayStoreConformance,
                         ::testing::Values(ReplayStoreFactory{
                             "InMemory",
                             [] {
                               return std::make_unique<InMemoryReplayStore>(
                                   SystemClock::Get());
                             },
                             [] { return absl::Now(); }}),
                         FactoryName);

// A fresh store on a fake clock; requests valid for two minutes.
class InMemoryReplayStoreTest : public ::testing::Test {
 protected:
  bool Check(const std::string& id, const std::string& nonce,
             absl::Time expires) {
    return store.CheckAndRememberNow({"A", id, nonce, expires});
  }
  FakeClock clock{absl::FromUnixSeconds(1'800'000'000)};
  InMemoryReplayStore store{&clock};
};

TEST_F(InMemoryReplayStoreTest, RemembersUntilExpiryAndNoLonger) {
  const absl::Time expiry = clock.Now() + absl::Minutes(2);
  EXPECT_TRUE(Check("id1", "nonce-1", expiry));
  clock.Advance(absl::Minutes(2));  // at the expiry: still remembered
  EXPECT_FALSE(Check("id1", "nonce-2", expiry));
  clock.Advance(absl::Seconds(1));  // expired entries no longer count
  EXPECT_TRUE(Check("id1", "nonce-1", clock.Now() + absl::Minutes(2)));
}

TEST_F(InMemoryReplayStoreTest, ForgetsBothKeysOfARequest) {
  const ReplayKey key{"A", "id1", "nonce-1", clock.Now() + absl::Minutes(2)};
  ASSERT_TRUE(store.CheckAndRememberNow(key));
  store.Forget(key);
  EXPECT_TRUE(store.CheckAndRememberNow(key));
}

TEST_F(InMemoryReplayStoreTest, ExpiredEntriesAreSweptSoMemoryStaysBounded) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(Check(absl::StrCat("id", i), absl::StrCat("n", i),
                      clock.Now() + absl::Seconds(30)));
  }
  EXPECT_EQ(store.size(), 2000u);
  clock.Advance(absl::Minutes(1));
  // Requests arriving after the first ones expired sweep them away.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(Check(absl::StrCat("later", i), absl::StrCat("m", i),
                      clock.Now() + absl::Seconds(30)));
  }
  EXPECT_EQ(store.size(), 2000u);
}

TEST(InMemoryReplayStoreRebuildTest, RebuiltFromTheAuditLogAfterARestart) {
  FakeClock clock(absl::Now());
  auto state =
      *audit::StateDb::Open({testing::MakeTempDir("replay") + "/state"});
  {
    auto log = *audit::RocksDbAuditLog::Create(state.get(), {});
    for (int i = 0; i < 5; ++i) {
      v1::AuditRecord r;
      r.set_consumer_agency("000.00.00.H30");
      r.set_request_id(absl::StrCat("req-", i));
      r.set_nonce(absl::StrCat("nonce-", i));
      // The first request has already expired.
      r.set_request_expires_unix_micros(absl::ToUnixMicros(
          clock.Now() + (i == 0 ? -absl::Seconds(1) : absl::Minutes(2))));
      ASSERT_TRUE(audit::AppendAndWait(log.get(), r).ok());
    }
  }
  // A fresh (empty) store, as after a restart.
  InMemoryReplayStore store(&clock);
  audit::AuditReader reader(state.get());
  auto restored =
      RebuildFromAuditLog(reader, &store, clock.Now(), absl::Minutes(15));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, 4u);
  const absl::Time expiry = clock.Now() + absl::Minutes(2);
  const std::string h30 = "000.00.00.H30";
  EXPECT_FALSE(store.CheckAndRememberNow({h30, "req-3", "other", expiry}));
  EXPECT_FALSE(store.CheckAndRememberNow({h30, "other", "nonce-4", expiry}));
  EXPECT_TRUE(store.CheckAndRememberNow({h30, "req-0", "nonce-0x", expiry}));
}

}  // namespace
}  // namespace dx::replay
