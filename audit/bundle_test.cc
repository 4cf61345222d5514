#include "audit/bundle.h"

#include <gtest/gtest.h>

#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::audit {
namespace {

std::vector<std::string> Ders(const std::string& pem_file) {
  return *certs::PemBundleToDer(testing::ReadOrDie(pem_file));
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string pki = testing::DevPkiDir();
    signer_ = *certs::Signer::FromFiles(pki + "/gateway/sign.key",
                                        pki + "/gateway/sign.pem");
    db_ = *StateDb::Open({testing::MakeTempDir("bundle") + "/db"});
    RocksDbAuditLog::Options o;
    o.tree_head_signer = signer_.get();
    auto log = *RocksDbAuditLog::Create(db_.get(), o);
    for (int i = 0; i < 12; ++i) {
      ASSERT_TRUE(
          AppendAndWait(log.get(), AdminRecord("t", "x", absl::StrCat(i)))
              .ok());
    }
    log.reset();  // signs the tree head of 12
    chain_ = Ders(pki + "/intermediate-ca.pem");
    roots_ = Ders(pki + "/root-ca.pem");
    chain_.insert(chain_.end(), roots_.begin(), roots_.end());
  }
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<StateDb> db_;
  std::vector<std::string> chain_, roots_;
};

TEST_F(BundleTest, BuildsAndVerifiesOffline) {
  AuditReader reader(db_.get());
  auto bundle = BuildBundle(reader, 2, 8, chain_, "gw1");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->entries_size(), 6);
  EXPECT_EQ(bundle->tree_head().tree_size(), 12u);
  // Round trip through bytes, as a file would.
  v1::AuditBundle copy;
  ASSERT_TRUE(copy.ParseFromString(bundle->SerializeAsString()));
  VerifyReport r = VerifyBundle(copy, roots_);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records_checked, 6u);
}

TEST_F(BundleTest, TamperingIsNamed) {
  AuditReader reader(db_.get());
  v1::AuditBundle bundle = *BuildBundle(reader, 0, 0, chain_, "gw1");
  v1::AuditBundle altered = bundle;
  std::string* bytes =
      altered.mutable_entries(5)->mutable_record()->mutable_record_bytes();
  (*bytes)[bytes->size() - 1] ^= 1;
  VerifyReport r = VerifyBundle(altered, roots_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_sequence, 5);
  // Bytes and leaf changed together: the proof no longer reaches the root.
  altered.mutable_entries(5)->mutable_record()->set_leaf_hash(HashLeaf(*bytes));
  r = VerifyBundle(altered, roots_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("inclusion proof"), std::string::npos) << r.problem;
  altered = bundle;
  altered.mutable_tree_head()->mutable_root_hash()->at(0) ^= 1;
  EXPECT_FALSE(VerifyBundle(altered, roots_).ok);
}

TEST_F(BundleTest, RootOfAnotherCaIsRefused) {
  const std::string other = testing::MakeTempDir("other") + "/pki";
  ASSERT_EQ(testing::RunPkiScript("init", other, ""), 0);
  AuditReader reader(db_.get());
  v1::AuditBundle bundle = *BuildBundle(reader, 0, 3, chain_, "gw1");
  VerifyReport r = VerifyBundle(bundle, Ders(other + "/root-ca.pem"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("certificate"), std::string::npos) << r.problem;
}

}  // namespace
}  // namespace dx::audit
