#include "gateway/replay_guard.h"

#include <gtest/gtest.h>

#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "tests/testing/dev_pki.h"

namespace dx::gateway {
namespace {

std::unique_ptr<audit::StateDb> Open(const std::string& dir) {
  return *audit::StateDb::Open({dir});
}

TEST(ReplayGuardTest, RemembersUntilExpiryPerConsumer) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  auto db = Open(testing::MakeTempDir("replay") + "/db");
  RocksDbReplayGuard guard(db.get(), &clock);
  const absl::Time expiry = clock.Now() + absl::Minutes(2);
  EXPECT_TRUE(*guard.CheckAndRemember("A", "id1", "nonce-1", expiry));
  EXPECT_FALSE(*guard.CheckAndRemember("A", "id1", "nonce-2", expiry));
  EXPECT_FALSE(*guard.CheckAndRemember("A", "id2", "nonce-1", expiry));
  EXPECT_TRUE(*guard.CheckAndRemember("B", "id1", "nonce-1", expiry));
  clock.Advance(absl::Minutes(3));  // expired entries no longer count
  EXPECT_TRUE(*guard.CheckAndRemember("A", "id1", "nonce-1",
                                      clock.Now() + absl::Minutes(2)));
}

TEST(ReplayGuardTest, RebuiltFromTheAuditLogAfterLosingItsOwnDatabase) {
  FakeClock clock(absl::Now());
  auto state = Open(testing::MakeTempDir("replay") + "/state");
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
  // A fresh (empty) replay database, as after a crash that lost it.
  auto replay_db = Open(testing::MakeTempDir("replay") + "/replay");
  RocksDbReplayGuard guard(replay_db.get(), &clock);
  audit::AuditReader reader(state.get());
  auto restored =
      RebuildFromAuditLog(reader, &guard, clock.Now(), absl::Minutes(15));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, 4u);
  const absl::Time expiry = clock.Now() + absl::Minutes(2);
  EXPECT_FALSE(
      *guard.CheckAndRemember("000.00.00.H30", "req-3", "other", expiry));
  EXPECT_FALSE(
      *guard.CheckAndRemember("000.00.00.H30", "other", "nonce-4", expiry));
  EXPECT_TRUE(
      *guard.CheckAndRemember("000.00.00.H30", "req-0", "nonce-0x", expiry));
}

}  // namespace
}  // namespace dx::gateway
