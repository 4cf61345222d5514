#include "audit/rocksdb_audit_log.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "certs/crypto.h"
#include "tests/testing/dev_pki.h"

namespace dx::audit {
namespace {

std::unique_ptr<StateDb> OpenDb(const std::string& dir) {
  StateDb::Options o;
  o.path = dir;
  auto db = StateDb::Open(o);
  EXPECT_TRUE(db.ok()) << db.status();
  return *std::move(db);
}

// Appends and waits for the receipt.
absl::StatusOr<AppendResult> AppendSync(AuditLog* log, v1::AuditRecord r) {
  absl::Notification done;
  absl::StatusOr<AppendResult> out;
  log->Append(std::move(r), [&](absl::StatusOr<AppendResult> res) {
    out = std::move(res);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

TEST(RocksDbAuditLogTest, LeafHashIsRfc6962) {
  EXPECT_EQ(LeafHash("abc"), certs::Sha256(std::string("\0abc", 4)));
}

TEST(RocksDbAuditLogTest, ConcurrentAppendsGetDistinctContiguousNumbers) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto db = OpenDb(dir);
  auto log = RocksDbAuditLog::Create(db.get(), {});
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::map<uint64_t, std::string> receipts;  // seq -> leaf hash
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        v1::AuditRecord r;
        r.set_request_id(absl::StrCat("t", t, "-", i));
        auto res = AppendSync(log->get(), r);
        ASSERT_TRUE(res.ok());
        absl::MutexLock lock(&mu);
        receipts[res->sequence_number] = res->record_hash;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(receipts.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(receipts.begin()->first, 0u);
  EXPECT_EQ(receipts.rbegin()->first, uint64_t{kThreads * kPerThread - 1});
  // What is stored is what the receipts promised.
  auto stored = RocksDbAuditLog::ReadRange(db.get(), 0, 1000);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), receipts.size());
  std::set<std::string> ids;
  for (const auto& [record, leaf] : *stored) {
    EXPECT_EQ(leaf, receipts[record.sequence_number()]);
    ids.insert(record.request_id());
  }
  EXPECT_EQ(ids.size(), receipts.size());
}

TEST(RocksDbAuditLogTest, NumberingContinuesAfterReopen) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  {
    auto db = OpenDb(dir);
    auto log = RocksDbAuditLog::Create(db.get(), {});
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(AppendSync(log->get(), {}).ok());
  }
  auto db = OpenDb(dir);
  auto log = RocksDbAuditLog::Create(db.get(), {});
  EXPECT_EQ((*log)->next_sequence(), 3u);
  auto r = AppendSync(log->get(), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sequence_number, 3u);
  EXPECT_TRUE((*log)->Health().ok());
}

TEST(RocksDbAuditLogTest, ReadRangeFromTheMiddle) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto db = OpenDb(dir);
  auto log = RocksDbAuditLog::Create(db.get(), {});
  for (int i = 0; i < 10; ++i) {
    v1::AuditRecord r;
    r.set_request_id(absl::StrCat(i));
    ASSERT_TRUE(AppendSync(log->get(), r).ok());
  }
  auto page = RocksDbAuditLog::ReadRange(db.get(), 7, 5);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].first.request_id(), "7");
}

TEST(RocksDbAuditLogTest, SecondWriterIsRefusedWithAClearMessage) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto first = OpenDb(dir);
  StateDb::Options o;
  o.path = dir;
  auto second = StateDb::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another dxgate"), std::string::npos)
      << second.status();
  o.read_only = true;
  EXPECT_TRUE(StateDb::Open(o).ok());  // auditors can read while it runs
}

}  // namespace
}  // namespace dx::audit
