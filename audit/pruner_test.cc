#include "audit/pruner.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "audit/admin.h"
#include "audit/audit_reader.h"
#include "audit/log_verifier.h"
#include "audit/rocksdb_audit_log.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::audit {
namespace {

constexpr int64_t kOld = 1'000'000'000'000'000;  // 2001
constexpr int64_t kCut = 1'500'000'000'000'000;  // 2017

class PrunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string pki = testing::DevPkiDir() + "/gateway/";
    signer_ = *certs::Signer::FromFiles(pki + "sign.key", pki + "sign.pem");
    StateDb::Options o;
    o.path = testing::MakeTempDir("pruner") + "/db";
    db_ = *StateDb::Open(o);
    Open();
  }
  void Open() {
    RocksDbAuditLog::Options lo;
    lo.tree_head_signer = signer_.get();
    lo.node_id = "gw1";
    log_ = *RocksDbAuditLog::Create(db_.get(), lo);
  }
  // `n` exchange records at time `micros`, each with a consumer, dataset
  // and request id (so with index entries).
  void Add(int n, int64_t micros, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      v1::AuditRecord r;
      r.set_kind(v1::RECORD_KIND_EXCHANGE);
      r.set_time_unix_micros(micros + i);
      r.set_consumer_agency("000.00.00.H30");
      r.set_dataset_id("bca.population");
      r.set_request_id(absl::StrCat(tag, "-", i));
      ASSERT_TRUE(AppendAndWait(log_.get(), r).ok());
    }
  }
  std::vector<v1::StoredRecord> All() {
    std::vector<v1::StoredRecord> out;
    EXPECT_TRUE(AuditReader(db_.get())
                    .ReadRange(0, 0,
                               [&](v1::StoredRecord&& r) {
                                 out.push_back(std::move(r));
                                 return true;
                               })
                    .ok());
    return out;
  }
  // Restarts the log, which signs a tree head over everything.
  VerifyReport Verify() {
    log_.reset();
    Open();
    log_.reset();
    AuditReader reader(db_.get());
    auto heads = reader.ListTreeHeads(0, 0);
    EXPECT_TRUE(heads.ok());
    auto key = *certs::PublicKeyOfDer(signer_->certificate_der());
    auto prefix = reader.CompactRangeHashes(All().front().sequence_number());
    auto start =
        CompactRange::FromHashes(All().front().sequence_number(), *prefix);
    LogVerifier v(*std::move(start), *heads, key.get());
    EXPECT_TRUE(
        reader.ReadRange(0, 0, [&](v1::StoredRecord&& r) { return v.Add(r); })
            .ok());
    Open();
    return v.Finish();
  }
  std::vector<std::string> AdminActions() {
    std::vector<std::string> out;
    for (const auto& r : All()) {
      if (r.record().kind() == v1::RECORD_KIND_ADMIN) {
        out.push_back(r.record().admin_action() + ": " + r.record().message());
      }
    }
    return out;
  }

  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<StateDb> db_;
  std::unique_ptr<RocksDbAuditLog> log_;
};

TEST_F(PrunerTest, PrunesTheOldPrefixInChunksBetweenIntentAndResult) {
  Add(25, kOld, "old");
  Add(5, kCut + 10, "new");
  Pruner pruner(db_.get(), log_.get(), {/*chunk_records=*/4});
  auto r = pruner.Prune("operator:ops1", absl::FromUnixMicros(kCut),
                        std::string(32, 'x'));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pruned_records(), 25u);
  EXPECT_EQ(r->first_kept_sequence(), 25u);
  EXPECT_FALSE(r->resumed());
  EXPECT_EQ(*pruner.PrunedBelow(), 25u);
  const auto left = All();
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.front().sequence_number(), 25u);
  // The index entries went with the records.
  AuditReader reader(db_.get());
  AuditReader::Filter by_dataset;
  by_dataset.dataset_id = "bca.population";
  auto page = reader.Query(by_dataset, 100, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->records.size(), 5u);
  const auto actions = AdminActions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].rfind("audit.prune-started", 0), 0u) << actions[0];
  EXPECT_EQ(actions[1].rfind("audit.prune: pruned 25 records", 0), 0u)
      << actions[1];
  EXPECT_TRUE(Verify().ok);  // reopens the log: a new pruner for it
  // A second prune finds nothing more, and starts from the mark.
  Pruner after(db_.get(), log_.get(), {/*chunk_records=*/4});
  auto again = after.Prune("operator:ops1", absl::FromUnixMicros(kCut),
                           std::string(32, 'x'));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pruned_records(), 0u);
}

TEST_F(PrunerTest, AnInterruptedPruneIsFinishedByResumeAndSaysSo) {
  Add(30, kOld, "old");
  Add(3, kCut + 10, "new");
  Pruner::Options crash;
  crash.chunk_records = 5;
  crash.stop_after_chunks = 2;
  {
    Pruner pruner(db_.get(), log_.get(), crash);
    auto r = pruner.Prune("operator:ops1", absl::FromUnixMicros(kCut),
                          std::string(32, 'x'));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  }
  // What the crash left: 10 pruned, the intent on record, no result.
  EXPECT_EQ(All().front().sequence_number(), 10u);
  ASSERT_EQ(AdminActions().size(), 1u);
  Pruner restarted(db_.get(), log_.get(), {/*chunk_records=*/5});
  // A new prune waits for the interrupted one.
  EXPECT_EQ(restarted
                .Prune("operator:ops1", absl::FromUnixMicros(kCut),
                       std::string(32, 'x'))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  auto r = restarted.Resume();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->resumed());
  EXPECT_EQ(r->pruned_records(), 20u);
  EXPECT_EQ(r->first_kept_sequence(), 30u);
  const auto actions = AdminActions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_NE(actions[1].find("finished after a restart: pruned 20 records (10 "
                            "to 30)"),
            std::string::npos)
      << actions[1];
  // Nothing younger was touched, and the log verifies.
  int young = 0;
  for (const auto& rec : All()) {
    young += rec.record().kind() == v1::RECORD_KIND_EXCHANGE &&
                     rec.record().time_unix_micros() >= kCut
                 ? 1
                 : 0;
  }
  EXPECT_EQ(young, 3);
  EXPECT_TRUE(Verify().ok);
  // Nothing left to resume.
  auto none = restarted.Resume();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->resumed());
}

}  // namespace
}  // namespace dx::audit
