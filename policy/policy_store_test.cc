// The RocksDB policy store against the conformance suite, and what is
// particular to it: the state survives reopening the folder.
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "policy/policy_store_conformance.h"
#include "policy/rocksdb_policy_store.h"
#include "policy/testing/forwarding_policy_store.h"

namespace dx::policy {
namespace {

// Namespaces are folders; a second store over the same folder cannot open
// it (RocksDB locks it), so "peers" share the first store through a proxy.
using SharedStore = testing::ForwardingPolicyStore;

std::unique_ptr<PolicyStore> MakeRocksDbStore(const std::string& ns) {
  static auto* open = new std::map<std::string, std::unique_ptr<PolicyStore>>;
  auto it = open->find(ns);
  if (it != open->end()) return std::make_unique<SharedStore>(it->second.get());
  auto store =
      RocksDbPolicyStore::Open(dx::testing::MakeTempDir("policy-store") + "/p");
  if (!store.ok()) return nullptr;
  PolicyStore* raw = store->get();
  (*open)[ns] = *std::move(store);
  return std::make_unique<SharedStore>(raw);
}

INSTANTIATE_TEST_SUITE_P(RocksDb, PolicyStoreConformance,
                         ::testing::Values(PolicyStoreFactory{
                             "RocksDb", MakeRocksDbStore}),
                         FactoryName);

TEST(RocksDbPolicyStoreTest, RevisionsAndPendingChangesSurviveReopening) {
  const std::string dir = dx::testing::MakeTempDir("policy-store") + "/p";
  {
    auto store = RocksDbPolicyStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status();
    v1::PolicyDocument doc;
    doc.add_datasets()->set_dataset("a");
    doc.mutable_datasets(0)->add_grants()->set_id("g");
    v1::PolicyRevision meta;
    meta.add_changed("a");
    ASSERT_TRUE((*store)->Commit(meta, doc, false, 0, "").ok());
    v1::PendingChange p;
    p.set_id("p1");
    ASSERT_TRUE((*store)->PutPending(p).ok());
  }
  auto store = RocksDbPolicyStore::Open(dir);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->Head(), 1u);
  auto state = (*store)->StateAt(1, "a");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->datasets(0).grants(0).id(), "g");
  EXPECT_TRUE((*store)->GetPending("p1").ok());
}

}  // namespace
}  // namespace dx::policy
