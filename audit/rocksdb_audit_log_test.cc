#include "audit/rocksdb_audit_log.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "audit/admin.h"
#include "audit/audit_reader.h"
#include "audit/keys.h"
#include "audit/log_verifier.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::audit {
namespace {

std::unique_ptr<StateDb> OpenDb(const std::string& dir,
                                rocksdb::Env* env = nullptr) {
  StateDb::Options o;
  o.path = dir;
  o.env = env;
  auto db = StateDb::Open(o);
  EXPECT_TRUE(db.ok()) << db.status();
  return *std::move(db);
}

v1::AuditRecord Record(const std::string& request_id) {
  v1::AuditRecord r;
  r.set_request_id(request_id);
  r.set_consumer_agency("000.00.00.H30");
  r.set_kind(v1::RECORD_KIND_EXCHANGE);
  return r;
}

std::unique_ptr<certs::Signer> LogSigner() {
  const std::string dir = testing::DevPkiDir() + "/gateway/";
  return *certs::Signer::FromFiles(dir + "sign.key", dir + "sign.pem");
}

certs::PkeyPtr LogKey(const certs::Signer& s) {
  return *certs::PublicKeyOfDer(s.certificate_der());
}

// Verifies the whole log from its records.
VerifyReport VerifyAll(StateDb* db, EVP_PKEY* key) {
  AuditReader reader(db);
  auto heads = reader.ListTreeHeads(0, 0);
  EXPECT_TRUE(heads.ok());
  LogVerifier v(CompactRange(), *heads, key);
  EXPECT_TRUE(
      reader.ReadRange(0, 0, [&](v1::StoredRecord&& r) { return v.Add(r); })
          .ok());
  return v.Finish();
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
        auto res =
            AppendAndWait(log->get(), Record(absl::StrCat("t", t, "-", i)));
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
  // What is stored is what the receipts promised, leaf for leaf.
  AuditReader reader(db.get());
  std::set<std::string> ids;
  ASSERT_TRUE(
      reader
          .ReadRange(0, 0,
                     [&](v1::StoredRecord&& r) {
                       EXPECT_EQ(r.leaf_hash(), receipts[r.sequence_number()]);
                       EXPECT_EQ(HashLeaf(r.record_bytes()), r.leaf_hash());
                       EXPECT_EQ(r.record().sequence_number(),
                                 r.sequence_number());
                       ids.insert(r.record().request_id());
                       return true;
                     })
          .ok());
  EXPECT_EQ(ids.size(), receipts.size());
  EXPECT_EQ(*reader.TreeSize(), receipts.size());
}

TEST(RocksDbAuditLogTest, TreeHeadsAreSignedAndTheLogVerifies) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto signer = LogSigner();
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer.get();
  o.node_id = "gw1";
  o.tree_head_every_records = 5;
  o.tree_head_interval = absl::Hours(1);
  {
    auto db = OpenDb(dir);
    auto log = RocksDbAuditLog::Create(db.get(), o);
    for (int i = 0; i < 12; ++i) {
      ASSERT_TRUE(AppendAndWait(log->get(), Record(absl::StrCat(i))).ok());
    }
  }  // closing signs a last tree head
  auto db = OpenDb(dir);
  AuditReader reader(db.get());
  auto heads = reader.ListTreeHeads(0, 0);
  ASSERT_TRUE(heads.ok());
  std::vector<uint64_t> sizes;
  for (const auto& h : *heads) sizes.push_back(h.tree_size());
  EXPECT_EQ(sizes, (std::vector<uint64_t>{5, 10, 12}));
  auto key = LogKey(*signer);
  const v1::SignedTreeHead& last = heads->back();
  EXPECT_TRUE(VerifyTreeHead(last, key.get()));
  EXPECT_EQ(last.signed_bytes().size(), 50u);
  EXPECT_EQ(last.node_id(), "gw1");
  VerifyReport report = VerifyAll(db.get(), key.get());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records_checked, 12u);
  EXPECT_EQ(report.tree_heads_checked, 3u);
  // Numbering continues after reopening, and so does the tree.
  auto log = RocksDbAuditLog::Create(db.get(), o);
  EXPECT_EQ((*log)->next_sequence(), 12u);
  auto r = AppendAndWait(log->get(), AdminRecord("test", "test.action", "x"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sequence_number, 12u);
}

TEST(RocksDbAuditLogTest, AlteredRecordIsNamedByTheVerifier) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto signer = LogSigner();
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer.get();
  auto db = OpenDb(dir);
  {
    auto log = RocksDbAuditLog::Create(db.get(), o);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(AppendAndWait(log->get(), Record(absl::StrCat("r", i))).ok());
    }
  }
  // Change one byte of record 13.
  std::string value;
  ASSERT_TRUE(
      db->db()->Get({}, db->records(), EncodeBigEndian64(13), &value).ok());
  value[value.size() / 2] ^= 0x20;
  ASSERT_TRUE(
      db->db()->Put({}, db->records(), EncodeBigEndian64(13), value).ok());
  auto key = LogKey(*signer);
  VerifyReport report = VerifyAll(db.get(), key.get());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_sequence, 13);
  EXPECT_NE(report.problem.find("record 13"), std::string::npos)
      << report.problem;
}

TEST(RocksDbAuditLogTest, AlteredRecordAndLeafAreCaughtByTheSignedRoot) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto signer = LogSigner();
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer.get();
  auto db = OpenDb(dir);
  {
    auto log = RocksDbAuditLog::Create(db.get(), o);
    for (int i = 0; i < 9; ++i) {
      ASSERT_TRUE(AppendAndWait(log->get(), Record(absl::StrCat("r", i))).ok());
    }
  }
  // A careful forger rewrites record 4 and its leaf node too.
  v1::AuditRecord forged = Record("forged");
  forged.set_sequence_number(4);
  const std::string bytes = forged.SerializeAsString();
  ASSERT_TRUE(
      db->db()->Put({}, db->records(), EncodeBigEndian64(4), bytes).ok());
  ASSERT_TRUE(
      db->db()
          ->Put({}, db->cf(Cf::kTree), TreeNodeKey(0, 4), HashLeaf(bytes))
          .ok());
  auto key = LogKey(*signer);
  VerifyReport report = VerifyAll(db.get(), key.get());
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.problem.find("signed root differs"), std::string::npos)
      << report.problem;
}

// A file system whose writes fail with "no space" while `full` is set.
class FullDiskFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FullDiskFs(std::shared_ptr<rocksdb::FileSystem> base)
      : FileSystemWrapper(std::move(base)) {}
  const char* Name() const override { return "FullDiskFs"; }
  rocksdb::IOStatus NewWritableFile(const std::string& f,
                                    const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, &file, d);
    if (s.ok()) r->reset(new File(std::move(file), &full));
    return s;
  }
  std::atomic<bool> full{false};

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, std::atomic<bool>* full)
        : FSWritableFileOwnerWrapper(std::move(f)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (full_->load()) return rocksdb::IOStatus::NoSpace("disk full (test)");
      return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* d) override {
      if (full_->load()) return rocksdb::IOStatus::NoSpace("disk full (test)");
      return FSWritableFileOwnerWrapper::Append(data, o, v, d);
    }

   private:
    std::atomic<bool>* full_;
  };
};

TEST(RocksDbAuditLogTest, LowDiskSpaceFailsClosedThenRecoversByItself) {
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto signer = LogSigner();
  std::atomic<uint64_t> free_bytes{uint64_t{1} << 30};
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer.get();
  o.min_free_bytes = uint64_t{64} << 20;
  o.free_bytes = [&]() -> absl::StatusOr<uint64_t> {
    return free_bytes.load();
  };
  auto db = OpenDb(dir);
  auto log = RocksDbAuditLog::Create(db.get(), o);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(AppendAndWait(log->get(), Record(absl::StrCat("ok", i))).ok());
  }
  free_bytes = uint64_t{10} << 20;
  auto refused = AppendAndWait(log->get(), Record("refused"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("10 MiB free"), std::string::npos)
      << refused.status();
  EXPECT_FALSE((*log)->Health().ok());
  free_bytes = uint64_t{1} << 30;
  // The writer notices the space by itself; wait for it (bounded).
  for (int i = 0; i < 400 && !(*log)->Health().ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_TRUE((*log)->Health().ok());
  auto after = AppendAndWait(log->get(), Record("after"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->sequence_number, 3u);  // the refused record took no number
  log->reset();
  AuditReader reader(db.get());
  std::vector<std::string> ids;
  ASSERT_TRUE(reader
                  .ReadRange(0, 0,
                             [&](v1::StoredRecord&& r) {
                               ids.push_back(r.record().request_id());
                               return true;
                             })
                  .ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"ok0", "ok1", "ok2", "after"}));
  auto key = LogKey(*signer);
  VerifyReport report = VerifyAll(db.get(), key.get());
  EXPECT_TRUE(report.ok) << report.problem;
}

TEST(RocksDbAuditLogTest, WriteErrorStopsWritingAndRestartRecoversAllAcked) {
  auto fs = std::make_shared<FullDiskFs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  const std::string dir = testing::MakeTempDir("audit") + "/db";
  auto signer = LogSigner();
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer.get();
  o.free_bytes = []() -> absl::StatusOr<uint64_t> { return uint64_t{1} << 40; };
  {
    auto db = OpenDb(dir, env.get());
    auto log = RocksDbAuditLog::Create(db.get(), o);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(
          AppendAndWait(log->get(), Record(absl::StrCat("ok", i))).ok());
    }
    fs->full = true;
    auto failed = AppendAndWait(log->get(), Record("lost"));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(failed.status().message().find("restart"), std::string::npos);
    fs->full = false;
    // No further write is attempted, however long we wait.
    EXPECT_FALSE(AppendAndWait(log->get(), Record("still refused")).ok());
    EXPECT_FALSE((*log)->Health().ok());
  }
  // The restart recovers every acknowledged record, and the log verifies.
  auto db = OpenDb(dir);
  auto log = RocksDbAuditLog::Create(db.get(), o);
  EXPECT_EQ((*log)->next_sequence(), 3u);
  ASSERT_TRUE(AppendAndWait(log->get(), Record("after restart")).ok());
  log->reset();
  auto key = LogKey(*signer);
  VerifyReport report = VerifyAll(db.get(), key.get());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records_checked, 4u);
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
