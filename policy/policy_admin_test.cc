#include "policy/policy_admin.h"

#include "audit/testing/fake_admin_recorder.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/rocksdb_policy_store.h"
#include "policy/testing/fixtures.h"
#include "policy/testing/forwarding_policy_store.h"

namespace dx::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAlice[] = "policy-admin:alice";
constexpr char kBob[] = "policy-admin:bob";

constexpr char kGrantH30[] = R"(
datasets:
  - dataset: pop
    grants:
      - id: civil
        consumers: [000.00.00.H30]
        purposes: [civil-registration]
        fields: [citizen_id, full_name]
        legal_basis: Law on Civil Status
)";

constexpr char kWiderH30[] = R"(
datasets:
  - dataset: pop
    grants:
      - id: civil
        consumers: [000.00.00.H30]
        purposes: [civil-registration]
        fields: [citizen_id, full_name, province_code]
        legal_basis: Law on Civil Status
)";

class PolicyAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = dx::testing::MakeTempDir("policy-admin");
    Open();
  }
  void Open() {
    admin_.reset();
    sync_.reset();
    store_.reset();
    auto store = RocksDbPolicyStore::Open(dir_ + "/policy");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto sync =
        PolicySync::Start({store_.get(), &registry_, &quotas_, &clock_}, {});
    ASSERT_TRUE(sync.ok()) << sync.status();
    sync_ = *std::move(sync);
    PolicyAdmin::Deps deps;
    deps.store = StoreForAdmin();
    deps.sync = sync_.get();
    deps.clock = &clock_;
    deps.recorder = &recorder_;
    auto admin = PolicyAdmin::Create(std::move(deps), bootstrap_);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }
  absl::StatusOr<v1::ApplyPolicyResponse> Apply(const std::string& actor,
                                                const std::string& yaml,
                                                bool dry_run = false) {
    v1::ApplyPolicyRequest r;
    r.set_yaml(yaml);
    r.set_source_name("p.yaml");
    r.set_comment("test");
    r.set_dry_run(dry_run);
    return admin_->Apply(actor, r);
  }
  bool Allowed(const std::vector<std::string>& fields) {
    AccessRequest r =
        testing::Req("000.00.00.H30", "pop", "civil-registration");
    r.fields = fields;
    return testing::DecideNow(*sync_->authorizer(), r).allowed;
  }
  uint64_t Head() { return *store_->Head(); }
  virtual PolicyStore* StoreForAdmin() { return store_.get(); }

  std::string dir_;
  std::string bootstrap_;
  registry::FileRegistrySource registry_{"registry.yaml",
                                         testing::TestRegistry()};
  FakeClock clock_{absl::FromUnixSeconds(1764000000)};
  LocalQuotaStore quotas_;
  absl::Status record_status_;
  std::vector<std::string> records_;
  audit::FakeAdminRecorder recorder_{[this](const std::string& actor,
                                            const std::string& action,
                                            const std::string& detail) {
    if (!record_status_.ok()) return record_status_;
    records_.push_back(actor + " " + action + " " + detail);
    return absl::OkStatus();
  }};
  std::unique_ptr<RocksDbPolicyStore> store_;
  std::unique_ptr<PolicySync> sync_;
  std::unique_ptr<PolicyAdmin> admin_;
};

TEST_F(PolicyAdminTest, ApplyMakesARevisionThatTakesEffectAndIsAudited) {
  EXPECT_FALSE(Allowed({"citizen_id"}));
  auto r = Apply(kAlice, kGrantH30);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->revision(), 1u);
  EXPECT_THAT(r->changed(), ElementsAre("pop"));
  EXPECT_TRUE(Allowed({"citizen_id"}));
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_THAT(records_[0], HasSubstr("policy-admin:alice policy.apply "
                                     "revision 1 (apply): pop"));
  // The same document again changes nothing.
  r = Apply(kAlice, kGrantH30);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->changed().empty());
  EXPECT_EQ(Head(), 1u);
}

TEST_F(PolicyAdminTest, DryRunStoresNothing) {
  auto r = Apply(kAlice, kGrantH30, /*dry_run=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->changed(), ElementsAre("pop"));
  EXPECT_EQ(Head(), 0u);
  EXPECT_FALSE(Allowed({"citizen_id"}));
}

TEST_F(PolicyAdminTest, BadFileIsRefusedWholeWithFileLineAndField) {
  ASSERT_TRUE(Apply(kAlice, kGrantH30).ok());
  auto r = Apply(kAlice, R"(
datasets:
  - dataset: pop
    grants:
      - id: civil
        consumers: [000.00.00.H30]
        purposes: [civil-registration]
        fields: [citizen_id, shoe_size]
        legal_basis: x
  - dataset: open.stats
    grants:
      - {id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("p.yaml:8: field 'datasets[0].grants[0].fields[1]': "
                        "dataset pop has no field 'shoe_size'"));
  EXPECT_THAT(r.status().message(), HasSubstr("refused whole"));
  EXPECT_EQ(Head(), 1u);  // the valid part was not applied either
  EXPECT_TRUE(Allowed({"citizen_id"}));
  // YAML-level errors name the line too.
  r = Apply(kAlice, "datasets:\n  - dataset: pop\n    grnts: []\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("p.yaml:3: field 'datasets[0].grnts'"));
}

TEST_F(PolicyAdminTest, HistoryDiffAndRollback) {
  ASSERT_TRUE(Apply(kAlice, kGrantH30).ok());
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(Apply(kBob, kWiderH30).ok());
  EXPECT_TRUE(Allowed({"province_code"}));

  v1::PolicyHistoryRequest h;
  h.set_dataset("pop");
  auto history = admin_->History(h);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->revisions_size(), 2);
  EXPECT_EQ(history->revisions(0).revision(), 2u);  // newest first
  EXPECT_EQ(history->revisions(0).author(), kBob);
  EXPECT_EQ(history->revisions(1).author(), kAlice);

  v1::PolicyDiffRequest d;
  d.set_dataset("pop");
  d.set_from_revision(1);
  d.set_to_revision(2);
  auto diff = admin_->Diff(d);
  ASSERT_TRUE(diff.ok());
  EXPECT_THAT(diff->diff(), HasSubstr("+      \"province_code\""));
  EXPECT_THAT(diff->diff(), HasSubstr("--- revision 1"));

  v1::RollbackPolicyRequest rb;
  rb.set_dataset("pop");
  rb.set_to_revision(1);
  rb.set_comment("too wide");
  auto r = admin_->Rollback(kAlice, rb);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->revision(), 3u);
  EXPECT_FALSE(Allowed({"province_code"}));
  EXPECT_TRUE(Allowed({"citizen_id"}));
  history = admin_->History(h);
  EXPECT_EQ(history->revisions(0).action(), "rollback");
  EXPECT_EQ(history->revisions(0).restored_revision(), 1u);
  // Revision 2 is still readable: nothing is overwritten.
  v1::GetPolicyRequest g;
  g.set_dataset("pop");
  g.set_revision(2);
  auto old = admin_->Get(g);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->document().datasets(0).grants(0).fields_size(), 3);
}

TEST_F(PolicyAdminTest, StateSurvivesARestart) {
  ASSERT_TRUE(Apply(kAlice, kGrantH30).ok());
  Open();
  EXPECT_EQ(Head(), 1u);
  EXPECT_TRUE(Allowed({"citizen_id"}));
}

TEST_F(PolicyAdminTest, BootstrapFileBecomesRevisionOneOnlyOnce) {
  bootstrap_ = dir_ + "/boot.yaml";
  ASSERT_TRUE(WriteFileAtomically(bootstrap_, kGrantH30).ok());
  Open();
  EXPECT_EQ(Head(), 1u);
  EXPECT_TRUE(Allowed({"citizen_id"}));
  ASSERT_TRUE(WriteFileAtomically(bootstrap_, kWiderH30).ok());
  Open();  // the store has a revision: the file is not read again
  EXPECT_EQ(Head(), 1u);
  EXPECT_FALSE(Allowed({"province_code"}));
}

TEST_F(PolicyAdminTest, TwoPersonRuleForProtectedDatasets) {
  constexpr char kSecret[] = R"(
datasets:
  - dataset: secret
    grants:
      - {id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         agreement: SA-2025-07}
)";
  auto r = Apply(kAlice, kSecret);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->revision(), 0u);
  ASSERT_FALSE(r->pending_id().empty());
  EXPECT_THAT(r->protected_datasets(), ElementsAre("secret"));
  EXPECT_EQ(Head(), 0u);  // not in effect
  AccessRequest req = testing::Req("000.00.00.H30", "secret", "p");
  EXPECT_FALSE(testing::DecideNow(*sync_->authorizer(), req).allowed);

  v1::ApprovePolicyRequest approve;
  approve.set_pending_id(r->pending_id());
  auto self = admin_->Approve(kAlice, approve);
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.status().code(), absl::StatusCode::kPermissionDenied);

  auto ok = admin_->Approve(kBob, approve);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->revision(), 1u);
  EXPECT_TRUE(testing::DecideNow(*sync_->authorizer(), req).allowed);
  v1::PolicyHistoryRequest h;
  auto history = admin_->History(h);
  EXPECT_EQ(history->revisions(0).author(), kAlice);
  EXPECT_EQ(history->revisions(0).approved_by(), kBob);
  EXPECT_TRUE(admin_->ListPending()->changes().empty());
  EXPECT_THAT(records_.back(), HasSubstr("policy-admin:bob policy.approve"));
}

TEST_F(PolicyAdminTest, TwoPersonRuleSwitchedOnForASharedDataset) {
  auto r = Apply(kAlice, R"(
datasets:
  - dataset: pop
    two_person_rule: true
)");
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->pending_id().empty());  // switching it on is protected too
  v1::ApprovePolicyRequest a;
  a.set_pending_id(r->pending_id());
  ASSERT_TRUE(admin_->Approve(kBob, a).ok());
  r = Apply(kAlice, R"(
datasets:
  - dataset: pop
    two_person_rule: true
    grants: [{id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}]
)");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->pending_id().empty());
}

TEST_F(PolicyAdminTest, ApprovalIsRefusedWhenTheDatasetChangedMeanwhile) {
  auto r = Apply(kAlice, R"(
datasets:
  - dataset: pop
    two_person_rule: true
)");
  ASSERT_TRUE(r.ok());
  const std::string first = r->pending_id();
  v1::ApprovePolicyRequest a;
  a.set_pending_id(first);
  ASSERT_TRUE(admin_->Approve(kBob, a).ok());
  auto p1 =
      Apply(kAlice, std::string(kGrantH30) + "    two_person_rule: true\n");
  auto p2 = Apply(kBob, std::string(kWiderH30) + "    two_person_rule: true\n");
  ASSERT_TRUE(p1.ok() && p2.ok());
  a.set_pending_id(p1->pending_id());
  ASSERT_TRUE(admin_->Approve(kBob, a).ok());
  a.set_pending_id(p2->pending_id());
  auto stale = admin_->Approve(kAlice, a);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  v1::RejectPolicyRequest reject;
  reject.set_pending_id(p2->pending_id());
  ASSERT_TRUE(admin_->Reject(kBob, reject).ok());
  EXPECT_TRUE(admin_->ListPending()->changes().empty());
}

TEST_F(PolicyAdminTest, ACommitWhoseRecordFailsIsReportedNotHidden) {
  // The record follows the commit (it must never name a revision that does
  // not exist); when it cannot be written the administrator is told that
  // the revision stands.
  record_status_ = absl::UnavailableError("disk full");
  auto r = Apply(kAlice, kGrantH30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(),
              HasSubstr("revision 1 is committed, but its audit record could "
                        "not be written (disk full)"));
  EXPECT_EQ(Head(), 1u);
}

TEST_F(PolicyAdminTest, ARevisionCommittedElsewhereIsInForceHereAtOnce) {
  // Another node (or writer) commits to the store: the watch brings it in.
  v1::PolicyDocument doc = testing::Doc(kGrantH30);
  v1::PolicyRevision meta;
  meta.add_changed("pop");
  ASSERT_TRUE(store_->Commit(meta, doc, false, 0, "").ok());
  EXPECT_TRUE(Allowed({"citizen_id"}));
  // A change prepared on the old revision would now be refused whole.
  auto r = Apply(kAlice, kWiderH30);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->revision(), 2u);
}

// A store where another writer commits just before each of ours.
class RacingStore final : public testing::ForwardingPolicyStore {
 public:
  explicit RacingStore(RocksDbPolicyStore* s) : ForwardingPolicyStore(s) {}
  absl::StatusOr<uint64_t> Commit(v1::PolicyRevision m,
                                  const v1::PolicyDocument& c, bool d,
                                  uint64_t e, const std::string& p) override {
    v1::PolicyRevision theirs;
    theirs.add_changed("open.stats");
    v1::PolicyDocument doc;
    doc.add_datasets()->set_dataset("open.stats");
    EXPECT_TRUE(to()->Commit(theirs, doc, false, e, "").ok());
    return to()->Commit(std::move(m), c, d, e, p);  // loses
  }
};

class PolicyAdminRaceTest : public PolicyAdminTest {
 protected:
  PolicyStore* StoreForAdmin() override {
    racing_ = std::make_unique<RacingStore>(store_.get());
    return racing_.get();
  }
  std::unique_ptr<RacingStore> racing_;
};

TEST_F(PolicyAdminRaceTest, ALostCommitIsRecordedAsNotCommitted) {
  auto r = Apply(kAlice, kGrantH30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Head(), 1u);  // the other writer's revision, not ours
  EXPECT_FALSE(Allowed({"citizen_id"}));
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_THAT(records_[0], HasSubstr("policy-admin:alice policy.refused "
                                     "Apply refused: ABORTED: the policy "
                                     "changed meanwhile (now revision 1)"));
}

TEST_F(PolicyAdminTest, ExplainSaysWhichRuleDecides) {
  ASSERT_TRUE(Apply(kAlice, kGrantH30).ok());
  v1::ExplainRequest e;
  e.set_consumer_agency("000.00.00.H30");
  e.set_dataset("pop");
  e.set_purpose_code("civil-registration");
  e.add_fields("citizen_id");
  v1::ExplainResponse out = admin_->Explain(e);
  EXPECT_TRUE(out.allowed());
  EXPECT_EQ(out.rule_id(), "civil");
  EXPECT_EQ(out.revision(), 1u);
  EXPECT_THAT(out.trace(), ElementsAre("grant civil: allows"));
  e.add_fields("status");
  out = admin_->Explain(e);
  EXPECT_FALSE(out.allowed());
  EXPECT_EQ(out.reason(), v1::REASON_POLICY_DENIED);
  EXPECT_THAT(out.message(), HasSubstr("status"));
}

TEST_F(PolicyAdminTest, ValidateReportsErrorsAndWarningsWithoutApplying) {
  v1::ValidatePolicyRequest v;
  v.set_source_name("v.yaml");
  v.set_yaml(R"(
datasets:
  - dataset: pop
    grants:
      - {id: old, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         valid_until: "2020-01-01T00:00:00Z"}
)");
  auto out = admin_->Validate(v);
  EXPECT_TRUE(out.ok());
  ASSERT_EQ(out.messages_size(), 1);
  EXPECT_EQ(out.messages(0).severity(), "warning");
  EXPECT_THAT(out.messages(0).text(),
              HasSubstr("v.yaml:6: field 'datasets[0].grants[0].valid_until'"));
  v.set_yaml("datasets: [{dataset: nowhere}]");
  out = admin_->Validate(v);
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(Head(), 0u);
}

}  // namespace
}  // namespace dx::policy
