#include "policy/policy_sync.h"

#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/rocksdb_policy_store.h"
#include "policy/testing/fixtures.h"
#include "policy/testing/held_policy_store.h"

namespace dx::policy {
namespace {

using ::testing::HasSubstr;

constexpr char kGrant[] = R"(
datasets:
  - dataset: pop
    grants:
      - {id: civil, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         fields: [citizen_id, province_code]}
)";

class PolicySyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store =
        RocksDbPolicyStore::Open(dx::testing::MakeTempDir("sync") + "/p");
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
    source_ = std::make_unique<registry::FileRegistrySource>(
        "registry.yaml", testing::TestRegistry());
  }
  void Start(PolicySync::Options options = {}) {
    auto sync = PolicySync::Start(
        {store_.get(), source_.get(), &quotas_, &clock_}, options);
    ASSERT_TRUE(sync.ok()) << sync.status();
    sync_ = *std::move(sync);
  }
  // A commit made by another writer (another node, or a restore).
  uint64_t CommitElsewhere(const std::string& yaml) {
    v1::PolicyDocument doc = testing::Doc(yaml);
    v1::PolicyRevision meta;
    for (const auto& p : doc.datasets()) meta.add_changed(p.dataset());
    auto head = store_->Head();
    auto rev = store_->Commit(meta, doc, doc.has_directory(), *head, "");
    EXPECT_TRUE(rev.ok()) << rev.status();
    return *rev;
  }
  AccessDecision Decide(const std::string& dataset,
                        std::vector<std::string> fields) {
    AccessRequest r = testing::Req("000.00.00.H30", dataset, "p");
    r.fields = std::move(fields);
    return testing::DecideNow(*sync_->authorizer(), r);
  }

  FakeClock clock_{absl::FromUnixSeconds(1764000000)};
  LocalQuotaStore quotas_;
  std::unique_ptr<RocksDbPolicyStore> store_;
  std::unique_ptr<registry::FileRegistrySource> source_;
  std::unique_ptr<PolicySync> sync_;
};

TEST_F(PolicySyncTest, RevisionsCommittedByAnyWriterComeIntoForce) {
  Start();
  EXPECT_FALSE(Decide("pop", {"citizen_id"}).allowed);
  const uint64_t rev = CommitElsewhere(kGrant);
  ASSERT_TRUE(sync_->WaitFor(rev, absl::Seconds(5)).ok());
  AccessDecision d = Decide("pop", {"citizen_id"});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy_version, "r1");
  EXPECT_TRUE(sync_->Health().ok());
}

TEST_F(PolicySyncTest, StartsFromTheStoredHead) {
  CommitElsewhere(kGrant);
  Start();
  EXPECT_EQ(sync_->Current()->revision(), 1u);
  EXPECT_TRUE(Decide("pop", {"citizen_id"}).allowed);
}

TEST_F(PolicySyncTest, ANewRegistryRecompilesThePolicy) {
  CommitElsewhere(kGrant);
  Start();
  // A registry with a new dataset: the policy is compiled against it, and
  // decisions (and the dataset they name) come from it.
  std::string yaml = std::string(testing::kRegistryYaml) + R"(
  - id: new.set
    provider_agency: 000.00.00.H30
    adapter: {address: "127.0.0.1:2"}
    fields: [{name: x}]
)";
  auto next = registry::Registry::FromYaml(yaml, "registry.yaml", 2);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(Decide("new.set", {}).reason, v1::REASON_UNKNOWN_DATASET);
  ASSERT_TRUE(source_->Reload(*next).ok());
  AccessDecision d = Decide("new.set", {});  // the owner reads its own
  EXPECT_TRUE(d.allowed) << d.message;
  ASSERT_NE(d.dataset, nullptr);
  EXPECT_EQ(d.registry->revision(), 2u);
  EXPECT_TRUE(Decide("pop", {"citizen_id"}).allowed);
  EXPECT_EQ(sync_->Current()->revision(), 1u);
}

TEST_F(PolicySyncTest, ARegistryThatBreaksThePolicyIsNotInstalled) {
  CommitElsewhere(kGrant);
  Start();
  // province_code is granted; a registry without it does not fit.
  std::string yaml = testing::kRegistryYaml;
  yaml.replace(yaml.find("      - {name: province_code}\n"),
               sizeof("      - {name: province_code}\n") - 1, "");
  auto broken = registry::Registry::FromYaml(yaml, "registry.yaml", 3);
  ASSERT_TRUE(broken.ok()) << broken.status();
  ASSERT_TRUE(source_->Reload(*broken).ok());
  EXPECT_THAT(sync_->Health().message(), HasSubstr("does not fit"));
  EXPECT_TRUE(Decide("pop", {"province_code"}).allowed);  // the old one
  EXPECT_EQ(Decide("pop", {}).registry, testing::TestRegistry());
}

TEST_F(PolicySyncTest, TheWritersOwnSnapshotIsInstalledAsIs) {
  Start();
  std::vector<PolicyProblem> problems;
  v1::PolicyDocument doc = testing::Doc(kGrant);
  auto mine = PolicySnapshot::Compile(testing::TestRegistry(), doc,
                                      sync_->Current().get(), 1, clock_.Now(),
                                      &problems);
  ASSERT_TRUE(mine.ok());
  v1::PolicyRevision meta;
  meta.add_changed("pop");
  meta.set_document_sha256("digest-of-doc");
  sync_->ExpectCommit(*mine, "digest-of-doc");
  ASSERT_TRUE(store_->Commit(meta, doc, false, 0, "").ok());
  EXPECT_EQ(sync_->Current(), *mine);
}

TEST_F(PolicySyncTest, AnotherWritersCommitIsNotMistakenForTheExpectedOne) {
  Start();
  auto mine =
      PolicySnapshot::Compile(testing::TestRegistry(), testing::Doc(kGrant),
                              sync_->Current().get(), 1, clock_.Now(), nullptr);
  ASSERT_TRUE(mine.ok());
  sync_->ExpectCommit(*mine, "digest-of-mine");
  // Someone else's revision 1 arrives first: it is compiled, not replaced.
  CommitElsewhere(R"(
datasets:
  - dataset: pop
    grants:
      - {id: other, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         fields: [status]}
)");
  EXPECT_NE(sync_->Current(), *mine);
  EXPECT_EQ(Decide("pop", {"status"}).rule_id, "other");
}

TEST_F(PolicySyncTest, WithAStalenessBoundSilenceFailsClosed) {
  Start({/*max_staleness=*/absl::Seconds(5)});
  EXPECT_TRUE(sync_->Health().ok());
  clock_.Advance(absl::Seconds(6));
  EXPECT_THAT(sync_->Health().message(),
              HasSubstr("cannot prove its sharing policy is current"));
  CommitElsewhere(kGrant);  // hearing from the store again
  EXPECT_TRUE(sync_->Health().ok());
}

TEST_F(PolicySyncTest, WaitingForARevisionNeverMadeTimesOut) {
  Start();
  absl::Status s = sync_->WaitFor(7, absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
}

// The start of a new cluster: another node seeded the store, and its
// revision has not yet come through this node's watch. Until it has, this
// node must not decide (with revision 0, owners and open data only).
class PolicySyncStartTest : public PolicySyncTest {
 protected:
  void SetUp() override {
    PolicySyncTest::SetUp();
    auto store = std::make_unique<testing::HeldPolicyStore>(std::move(store_));
    held_ = store.get();
    held_store_ = std::move(store);
  }
  // The sync (a member of the base) watches the held store (a member of
  // this class, so destroyed first): it must go before the store does.
  void TearDown() override { sync_.reset(); }
  void StartHeld() {
    auto sync = PolicySync::Start(
        {held_store_.get(), source_.get(), &quotas_, &clock_}, {});
    ASSERT_TRUE(sync.ok()) << sync.status();
    sync_ = *std::move(sync);
  }
  uint64_t CommitBehindTheWatch(const std::string& yaml) {
    v1::PolicyDocument doc = testing::Doc(yaml);
    v1::PolicyRevision meta;
    for (const auto& p : doc.datasets()) meta.add_changed(p.dataset());
    auto rev = held_store_->Commit(meta, doc, doc.has_directory(),
                                   *held_store_->Head(), "");
    EXPECT_TRUE(rev.ok()) << rev.status();
    return *rev;
  }

  testing::HeldPolicyStore* held_ = nullptr;
  std::unique_ptr<testing::HeldPolicyStore> held_store_;
};

TEST_F(PolicySyncStartTest, NotReadyUntilTheStoresHeadIsInForce) {
  StartHeld();
  held_->Hold();
  CommitBehindTheWatch(kGrant);  // another node's seed, not yet delivered
  EXPECT_EQ(sync_->Current()->revision(), 0u);
  auto head = sync_->RequireStoreHead();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, 1u);
  absl::Status health = sync_->Health();
  EXPECT_TRUE(absl::IsUnavailable(health)) << health;
  EXPECT_THAT(health.message(), HasSubstr("revision 1 in force"));
  EXPECT_FALSE(sync_->WaitForRequiredHead(absl::Milliseconds(20)));
  held_->Release();
  EXPECT_TRUE(sync_->WaitForRequiredHead(absl::Seconds(5)));
  EXPECT_TRUE(sync_->Health().ok()) << sync_->Health();
  AccessDecision d = Decide("pop", {"citizen_id"});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy_version, "r1");
}

TEST_F(PolicySyncStartTest, ARequiredHeadThatCannotBeInstalledSaysWhy) {
  StartHeld();
  held_->Hold();
  // A revision this node's registry cannot compile: a dataset it lacks.
  CommitBehindTheWatch(R"(
datasets:
  - dataset: no-such-dataset
    grants:
      - {id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}
)");
  ASSERT_TRUE(sync_->RequireStoreHead().ok());
  held_->Release();
  // The wait ends at once (it will never be in force), and health says why.
  EXPECT_FALSE(sync_->WaitForRequiredHead(absl::Seconds(30)));
  absl::Status health = sync_->Health();
  EXPECT_TRUE(absl::IsUnavailable(health)) << health;
  EXPECT_THAT(health.message(), HasSubstr("revision 1"));
}

// A revision that does not compile stays refused even after a registry
// change clears the problem it reported; a registry that fits it puts it
// in force. Before, the node then served the older revision as current.
TEST_F(PolicySyncTest, ANodeBehindTheStoresHeadIsNotReadyWhateverTheRegistry) {
  Start();
  const uint64_t rev = CommitElsewhere(R"(
datasets:
  - dataset: new.set
    grants:
      - {id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}
)");
  EXPECT_EQ(sync_->Current()->revision(), 0u);
  EXPECT_FALSE(sync_->Health().ok());
  // Another registry, still without new.set: the old revision compiles on
  // it, but this node is still behind the store.
  auto other =
      registry::Registry::FromYaml(testing::kRegistryYaml, "registry.yaml", 2);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(source_->Reload(*other).ok());
  absl::Status health = sync_->Health();
  EXPECT_TRUE(absl::IsUnavailable(health)) << health;
  EXPECT_THAT(health.message(), HasSubstr("revision 1 in force"));
  // The registry it needs: the head goes in force, and the node is ready.
  auto fits =
      registry::Registry::FromYaml(std::string(testing::kRegistryYaml) + R"(
  - id: new.set
    provider_agency: 000.00.00.H30
    adapter: {address: "127.0.0.1:2"}
    fields: [{name: x}]
)",
                                   "registry.yaml", 3);
  ASSERT_TRUE(fits.ok()) << fits.status();
  ASSERT_TRUE(source_->Reload(*fits).ok());
  EXPECT_EQ(sync_->Current()->revision(), rev);
  EXPECT_TRUE(sync_->Health().ok()) << sync_->Health();
}

TEST_F(PolicySyncTest, ASingleNodeWithItsHeadInstalledIsReadyAtOnce) {
  CommitElsewhere(kGrant);
  Start();
  auto head = sync_->RequireStoreHead();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, 1u);
  EXPECT_TRUE(sync_->WaitForRequiredHead(absl::ZeroDuration()));
  EXPECT_TRUE(sync_->Health().ok());
}

}  // namespace
}  // namespace dx::policy
