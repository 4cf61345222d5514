// Tree head time-stamps in the state database and in bundles: which stamp
// a bundle carries for its records, and that an auditor's check ties the
// stamped head to the bundle's (its signature, its consistency path) and
// names a stamp that was changed. The tokens here are placeholders: their
// RFC 3161 checks are timestamp/'s tests and the e2e test's.
#include "audit/timestamps.h"

#include <gtest/gtest.h>

#include "audit/admin.h"
#include "audit/bundle.h"
#include "audit/bundle_timestamps.h"
#include "audit/rocksdb_audit_log.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::audit {
namespace {

class TimestampsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string pki = testing::DevPkiDir();
    signer_ = *certs::Signer::FromFiles(pki + "/gateway/sign.key",
                                        pki + "/gateway/sign.pem");
    db_ = *StateDb::Open({testing::MakeTempDir("stamps") + "/db"});
    // Heads of 4, 8 and 12 records: each close signs one.
    for (int phase = 0; phase < 3; ++phase) {
      RocksDbAuditLog::Options o;
      o.tree_head_signer = signer_.get();
      auto log = *RocksDbAuditLog::Create(db_.get(), o);
      for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(
            AppendAndWait(log.get(), AdminRecord("t", "x", absl::StrCat(i)))
                .ok());
      }
    }
    roots_ = *certs::PemBundleToDer(testing::ReadOrDie(pki + "/root-ca.pem"));
    chain_ = *certs::PemBundleToDer(
        testing::ReadOrDie(pki + "/intermediate-ca.pem"));
    chain_.insert(chain_.end(), roots_.begin(), roots_.end());
  }
  void Stamp(uint64_t size) {
    v1::TreeHeadTimestamp stamp;
    *stamp.mutable_tree_head() = *AuditReader(db_.get()).TreeHead(size);
    stamp.set_token(absl::StrCat("token of ", size));
    stamp.set_time_unix_micros(static_cast<int64_t>(size));
    ASSERT_TRUE(PutTreeHeadTimestamp(db_.get(), stamp).ok());
  }
  std::vector<uint64_t> Carried(uint64_t from, uint64_t to) {
    v1::AuditBundle b =
        *BuildBundle(AuditReader(db_.get()), from, to, chain_, "gw1");
    std::vector<uint64_t> sizes;
    for (const auto& s : b.timestamps()) {
      sizes.push_back(s.tree_head().tree_size());
    }
    return sizes;
  }
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<StateDb> db_;
  std::vector<std::string> chain_, roots_;
};

TEST_F(TimestampsTest, TheLatestIsFoundAndNoneBeforeAny) {
  auto none = LatestTreeHeadTimestamp(*db_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  Stamp(8);
  Stamp(4);
  auto latest = LatestTreeHeadTimestamp(*db_);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->tree_head().tree_size(), 8u);
}

TEST_F(TimestampsTest, ABundleCarriesTheEarliestStampCoveringItsRecords) {
  EXPECT_TRUE(Carried(0, 3).empty());  // nothing stamped yet
  Stamp(4);
  Stamp(8);
  EXPECT_EQ(Carried(0, 3), std::vector<uint64_t>{4});
  EXPECT_EQ(Carried(0, 4), std::vector<uint64_t>{4});
  EXPECT_EQ(Carried(5, 8), std::vector<uint64_t>{8});
  // No stamp covers record 11 yet: the latest below covers those before 8.
  EXPECT_EQ(Carried(9, 12), std::vector<uint64_t>{8});
}

TEST_F(TimestampsTest, TheStampedHeadIsCheckedAgainstTheBundlesHead) {
  Stamp(4);
  v1::AuditBundle bundle =
      *BuildBundle(AuditReader(db_.get()), 0, 3, chain_, "gw1");
  ASSERT_EQ(bundle.timestamps_size(), 1);
  EXPECT_FALSE(bundle.timestamps(0).consistency_path().empty());
  auto checks = CheckBundleTimestamps(bundle, roots_, "");
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].problem, "");
  EXPECT_FALSE(checks[0].token_checked);
  EXPECT_EQ(checks[0].tree_size, 4u);

  v1::AuditBundle changed = bundle;
  changed.mutable_timestamps(0)->mutable_tree_head()->mutable_root_hash()->at(
      0) ^= 1;
  EXPECT_NE(
      CheckBundleTimestamps(changed, roots_, "")[0].problem.find("signature"),
      std::string::npos);
  changed = bundle;
  changed.mutable_timestamps(0)->mutable_consistency_path(0)->at(0) ^= 1;
  EXPECT_NE(
      CheckBundleTimestamps(changed, roots_, "")[0].problem.find("prefix"),
      std::string::npos);
  // A placeholder token under any authority's roots: refused, named.
  const std::string roots_pem =
      testing::ReadOrDie(testing::DevPkiDir() + "/root-ca.pem");
  EXPECT_NE(
      CheckBundleTimestamps(bundle, roots_, roots_pem)[0].problem.find("token"),
      std::string::npos);
}

}  // namespace
}  // namespace dx::audit
