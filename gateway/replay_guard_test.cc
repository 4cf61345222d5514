#include "gateway/replay_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "tests/testing/dev_pki.h"

namespace dx::gateway {
namespace {

std::unique_ptr<audit::StateDb> Open(const std::string& dir) {
  return *audit::StateDb::Open({dir});
}

// A fresh guard on a fake clock; requests valid for two minutes.
class ReplayGuardTest : public ::testing::Test {
 protected:
  FakeClock clock{absl::FromUnixSeconds(1'800'000'000)};
  InMemoryReplayGuard guard{&clock};
  const absl::Time expiry = clock.Now() + absl::Minutes(2);
};

TEST_F(ReplayGuardTest, RemembersUntilExpiryPerConsumer) {
  EXPECT_TRUE(*guard.CheckAndRemember("A", "id1", "nonce-1", expiry));
  EXPECT_FALSE(*guard.CheckAndRemember("A", "id1", "nonce-2", expiry));
  EXPECT_FALSE(*guard.CheckAndRemember("A", "id2", "nonce-1", expiry));
  EXPECT_TRUE(*guard.CheckAndRemember("B", "id1", "nonce-1", expiry));
  clock.Advance(absl::Minutes(3));  // expired entries no longer count
  EXPECT_TRUE(*guard.CheckAndRemember("A", "id1", "nonce-1",
                                      clock.Now() + absl::Minutes(2)));
}

TEST_F(ReplayGuardTest, AnIdAndANonceWithTheSameValueAreDifferentKeys) {
  EXPECT_TRUE(*guard.CheckAndRemember("A", "x", "y", expiry));
  // "y" was a nonce, not a request id; "x" a request id, not a nonce.
  EXPECT_TRUE(*guard.CheckAndRemember("A", "y", "x", expiry));
  // The separator keeps ("A", "Bz") apart from ("AB", "z").
  EXPECT_TRUE(*guard.CheckAndRemember("A", "Bz", "n1", expiry));
  EXPECT_TRUE(*guard.CheckAndRemember("AB", "z", "n2", expiry));
}

TEST_F(ReplayGuardTest, ARefusedRequestRemembersNothing) {
  ASSERT_TRUE(*guard.CheckAndRemember("A", "id1", "nonce-1", expiry));
  // A replayed id with a fresh nonce is refused, and its nonce is not kept.
  EXPECT_FALSE(*guard.CheckAndRemember("A", "id1", "nonce-2", expiry));
  EXPECT_TRUE(*guard.CheckAndRemember("A", "id2", "nonce-2", expiry));
}

TEST_F(ReplayGuardTest, ExpiredEntriesAreSweptSoMemoryStaysBounded) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(*guard.CheckAndRemember("A", absl::StrCat("id", i),
                                        absl::StrCat("n", i),
                                        clock.Now() + absl::Seconds(30)));
  }
  EXPECT_EQ(guard.size(), 2000u);
  clock.Advance(absl::Minutes(1));
  // Requests arriving after the first ones expired sweep them away.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(*guard.CheckAndRemember("A", absl::StrCat("later", i),
                                        absl::StrCat("m", i),
                                        clock.Now() + absl::Seconds(30)));
  }
  EXPECT_EQ(guard.size(), 2000u);
}

TEST_F(ReplayGuardTest, ConcurrentCallersAcceptEachRequestOnce) {
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        // Every thread sends the same 500 requests; each is accepted once.
        if (*guard.CheckAndRemember("A", absl::StrCat("id", i),
                                    absl::StrCat("n", i), expiry)) {
          ++accepted;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 500);
}

TEST(ReplayGuardRebuildTest, RebuiltFromTheAuditLogAfterARestart) {
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
  // A fresh (empty) guard, as after a restart.
  InMemoryReplayGuard guard(&clock);
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
