#include "policy/snapshot.h"

#include "common/clock.h"
#include "common/testing/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/masking.h"
#include "policy/policy_authorizer.h"
#include "policy/row_filter.h"
#include "policy/testing/fixtures.h"

namespace dx::policy {
namespace {

using testing::Doc;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestRegistry;

const absl::Time kNow = absl::FromUnixSeconds(1764000000);  // 2025-11-24

constexpr char kPolicy[] = R"(
directory:
  groups:
    - {name: provinces, members: ["000.00.00.H*"]}
  agencies:
    - {agency: 000.00.00.H30, attributes: {province_code: "031"}}
datasets:
  - dataset: pop
    grants:
      - id: civil
        consumers: [000.00.00.H30]
        purposes: [civil-registration]
        fields: [citizen_id, full_name, province_code]
        legal_basis: Law on Civil Status
      - id: residents
        consumers: [group:provinces]
        purposes: [residence]
        fields: [citizen_id, full_name, province_code, status]
        masks: [{field: citizen_id, kind: partial, keep_last: 4},
                {field: full_name, kind: hash}]
        row_filter: province_code == consumer.province_code && status != 'dead'
        legal_basis: Law on Residence
      - id: windowed
        consumers: [000.00.00.G12]
        purposes: [tax]
        fields: [status]
        valid_from: "2025-01-01T00:00:00+07:00"
        valid_until: "2026-01-01T00:00:00+07:00"
        legal_basis: agreement 12
      - id: needs-subject
        consumers: [000.00.00.G12]
        purposes: [audit]
        fields: [citizen_id, status]
        require_subject_id: true
        require_consent: true
        legal_basis: Law on Tax Administration
    forbids:
      - id: no-ethnicity
        consumers: [group:provinces]
        fields: [ethnicity]
        legal_basis: Decree 13/2023 Art. 2(4)
        reason: sensitive
      - id: banned-29
        consumers: [000.00.00.H29]
        purposes: [civil-registration]
        legal_basis: Inspection decision 7
)";

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = PolicySnapshot::Compile(TestRegistry(), Doc(kPolicy), nullptr, 7,
                                     kNow, &problems_);
    ASSERT_TRUE(s.ok()) << s.status();
    snap_ = *s;
  }
  AccessDecision Decide(const std::string& agency, const std::string& purpose,
                        std::vector<std::string> fields = {},
                        const std::string& dataset = "pop",
                        absl::Time at = kNow) {
    AccessRequest r;
    r.consumer_agency = agency;
    r.dataset_id = dataset;
    r.purpose_code = purpose;
    r.fields = std::move(fields);
    r.has_data_subject_id = subject_;
    r.consent_reference = consent_;
    return snap_->Decide(r, at);
  }
  std::vector<PolicyProblem> problems_;
  std::shared_ptr<const PolicySnapshot> snap_;
  bool subject_ = false;
  std::string consent_;
};

TEST_F(SnapshotTest, GrantAllowsItsFieldsAndCitesItsRule) {
  AccessDecision d = Decide("000.00.00.H30", "civil-registration");
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_THAT(d.fields,
              ElementsAre("citizen_id", "full_name", "province_code"));
  EXPECT_EQ(d.rule_id, "civil");
  EXPECT_EQ(d.policy_version, "r7");
  EXPECT_EQ(d.legal_basis, "Law on Civil Status");
  EXPECT_TRUE(d.masks.empty());
  EXPECT_EQ(d.row_filter, nullptr);
}

TEST_F(SnapshotTest, RequestedFieldsKeepTheirOrder) {
  AccessDecision d = Decide("000.00.00.H30", "civil-registration",
                            {"province_code", "citizen_id"});
  ASSERT_TRUE(d.allowed);
  EXPECT_THAT(d.fields, ElementsAre("province_code", "citizen_id"));
}

TEST_F(SnapshotTest, FieldsNotGrantedAreRefusedWithTheNearestRule) {
  AccessDecision d = Decide("000.00.00.H30", "civil-registration", {"status"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_POLICY_DENIED);
  EXPECT_EQ(d.rule_id, "civil");
  EXPECT_THAT(d.message, HasSubstr("fields not granted"));
  EXPECT_THAT(d.message, HasSubstr("status"));
  EXPECT_EQ(d.legal_basis, "Law on Data 2024 Art. 18");
}

TEST_F(SnapshotTest, UnknownConsumerAndPurposeAreDeniedByDefault) {
  AccessDecision d = Decide("000.00.00.G12", "civil-registration");
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr("purpose 'civil-registration'"));
  d = Decide("000.00.00.X99", "anything");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule_id, "default:deny");
  EXPECT_THAT(d.message, HasSubstr("no sharing grant"));
  EXPECT_EQ(d.legal_basis, "Law on Data 2024 Art. 18");
}

TEST_F(SnapshotTest, GroupPatternMatchesEveryProvince) {
  AccessDecision d = Decide("000.00.00.H30", "residence");
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.rule_id, "residents");
  // H29 is a province too, but has no province_code attribute: fail closed.
  d = Decide("000.00.00.H29", "residence");
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr("province_code"));
  EXPECT_EQ(d.rule_id, "residents");
}

TEST_F(SnapshotTest, MasksRowFilterAndAdapterFields) {
  AccessDecision d =
      Decide("000.00.00.H30", "residence", {"citizen_id", "full_name"});
  ASSERT_TRUE(d.allowed) << d.message;
  ASSERT_EQ(d.masks.size(), 2u);
  EXPECT_EQ(d.masks[0].field, "citizen_id");
  EXPECT_EQ(d.masks[0].kind, v1::MASK_KIND_PARTIAL);
  ASSERT_NE(d.row_filter, nullptr);
  EXPECT_THAT(d.filter_consumer_values, ElementsAre("031"));
  // The adapter is also asked for the columns the filter reads.
  EXPECT_THAT(d.fields, ElementsAre("citizen_id", "full_name"));
  EXPECT_THAT(d.adapter_fields, ElementsAre("citizen_id", "full_name",
                                            "province_code", "status"));
  // Only masks of fields served.
  d = Decide("000.00.00.H30", "residence", {"province_code"});
  ASSERT_TRUE(d.allowed);
  EXPECT_TRUE(d.masks.empty());
}

TEST_F(SnapshotTest, FieldForbidRefusesNamedFieldsAndTrimsAllReadable) {
  // Owner G01 is not a province: the forbid does not apply to it.
  AccessDecision d = Decide("000.00.00.G01", "anything");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.rule_id, "owner");
  EXPECT_EQ(d.fields.size(), 5u);
  d = Decide("000.00.00.H30", "residence", {"citizen_id", "ethnicity"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_POLICY_FORBIDDEN);
  EXPECT_EQ(d.rule_id, "no-ethnicity");
  EXPECT_EQ(d.legal_basis, "Decree 13/2023 Art. 2(4)");
  EXPECT_THAT(d.message, HasSubstr("sensitive"));
}

TEST_F(SnapshotTest, WholeDatasetForbidOverridesAGrant) {
  // banned-29 matches H29 for civil-registration: even a grant could not
  // help. Add one to be sure precedence, not absence, decides.
  v1::PolicyDocument doc = Doc(kPolicy);
  auto* g = doc.mutable_datasets(0)->add_grants();
  g->set_id("h29-civil");
  g->add_consumers("000.00.00.H29");
  g->add_purposes("civil-registration");
  g->set_legal_basis("x");
  auto s =
      PolicySnapshot::Compile(TestRegistry(), doc, nullptr, 8, kNow, nullptr);
  ASSERT_TRUE(s.ok()) << s.status();
  AccessRequest r;
  r.consumer_agency = "000.00.00.H29";
  r.dataset_id = "pop";
  r.purpose_code = "civil-registration";
  AccessDecision d = (*s)->Decide(r, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule_id, "banned-29");
  EXPECT_EQ(d.legal_basis, "Inspection decision 7");
  r.purpose_code = "other";
  EXPECT_NE((*s)->Decide(r, kNow).rule_id, "banned-29");
}

TEST_F(SnapshotTest, ValidityWindowEdges) {
  const absl::Time from = absl::FromUnixSeconds(1735664400);   // 2025-01-01 +07
  const absl::Time until = absl::FromUnixSeconds(1767200400);  // 2026-01-01 +07
  EXPECT_TRUE(Decide("000.00.00.G12", "tax", {}, "pop", from).allowed);
  EXPECT_TRUE(
      Decide("000.00.00.G12", "tax", {}, "pop", until - absl::Microseconds(1))
          .allowed);
  AccessDecision d = Decide("000.00.00.G12", "tax", {}, "pop", until);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_GRANT_NOT_VALID);
  EXPECT_THAT(d.message, HasSubstr("expired"));
  d = Decide("000.00.00.G12", "tax", {}, "pop", from - absl::Seconds(1));
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr("valid from"));
}

TEST_F(SnapshotTest, PersonalFieldsNeedSubjectAndConsentWhenRequired) {
  AccessDecision d = Decide("000.00.00.G12", "audit");
  EXPECT_EQ(d.reason, v1::REASON_SUBJECT_REQUIRED);
  subject_ = true;
  d = Decide("000.00.00.G12", "audit");
  EXPECT_EQ(d.reason, v1::REASON_CONSENT_REQUIRED);
  consent_ = "consent-123";
  EXPECT_TRUE(Decide("000.00.00.G12", "audit").allowed);
  // Non-personal fields only: no requirement applies.
  subject_ = false;
  consent_.clear();
  EXPECT_TRUE(Decide("000.00.00.G12", "audit", {"status"}).allowed);
}

TEST_F(SnapshotTest, OpenDataDefaultServesNonPersonalFieldsToAnyone) {
  AccessDecision d = Decide("000.00.00.H29", "stats", {}, "open.stats");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.rule_id, "default:open");
  EXPECT_THAT(d.fields, ElementsAre("region", "count"));
  d = Decide("000.00.00.H29", "stats", {"contact_person"}, "open.stats");
  EXPECT_FALSE(d.allowed);
}

TEST_F(SnapshotTest, PrivateDataIsTheOwnersOnly) {
  EXPECT_TRUE(Decide("000.00.00.G01", "x", {}, "secret").allowed);
  AccessDecision d = Decide("000.00.00.H30", "x", {}, "secret");
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr("private"));
  EXPECT_THAT(d.message, HasSubstr("sharing agreement"));
}

TEST(PolicyCompileTest, ErrorsNameThePath) {
  std::vector<PolicyProblem> problems;
  auto s = PolicySnapshot::Compile(TestRegistry(), Doc(R"(
datasets:
  - dataset: pop
    grants:
      - {id: a, consumers: [group:nope], purposes: [p], legal_basis: x,
         fields: [citizen_id, shoe_size]}
      - {id: a, consumers: [not-a-code], purposes: [p]}
      - {id: c, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         row_filter: "province_code ==", valid_from: yesterday}
  - dataset: secret
    grants:
      - {id: d, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}
  - dataset: nowhere
)"),
                                   nullptr, 1, kNow, &problems);
  ASSERT_FALSE(s.ok());
  std::vector<std::string> paths;
  for (const auto& p : problems)
    if (p.error) paths.push_back(p.path);
  EXPECT_THAT(paths,
              ::testing::UnorderedElementsAre(
                  "datasets[0].grants[0].consumers[0]",
                  "datasets[0].grants[0].fields[1]", "datasets[0].grants[1].id",
                  "datasets[0].grants[1].consumers[0]",
                  "datasets[0].grants[1].legal_basis",
                  "datasets[0].grants[2].row_filter",
                  "datasets[0].grants[2].valid_from",
                  "datasets[1].grants[0].agreement", "datasets[2].dataset"));
}

TEST(PolicyCompileTest, WarnsAboutUnreachableConflictingAndExpiredRules) {
  std::vector<PolicyProblem> problems;
  auto s = PolicySnapshot::Compile(TestRegistry(), Doc(R"(
datasets:
  - dataset: pop
    grants:
      - {id: wide, consumers: [000.00.00.H30], purposes: ["*"], legal_basis: x}
      - {id: narrow, consumers: [000.00.00.H30], purposes: [p],
         fields: [status], legal_basis: x}
      - {id: blocked, consumers: [000.00.00.H29], purposes: [p], legal_basis: x}
      - {id: old, consumers: [000.00.00.G12], purposes: [p], legal_basis: x,
         valid_until: "2020-01-01T00:00:00Z"}
    forbids:
      - {id: stop-29, consumers: [000.00.00.H29]}
      - {id: no-status, consumers: [000.00.00.H30], fields: [status]}
)"),
                                   nullptr, 1, kNow, &problems);
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::string> warnings;
  for (const auto& p : problems) {
    EXPECT_FALSE(p.error) << p.message;
    warnings.push_back(p.path + ": " + p.message);
  }
  EXPECT_THAT(warnings,
              ::testing::IsSupersetOf(
                  {HasSubstr("grants[1]: unreachable: the earlier grant wide"),
                   HasSubstr("grants[2]: unreachable: forbid stop-29"),
                   HasSubstr("grants[3].valid_until: grant old expired"),
                   HasSubstr("grants[0]: conflict: forbid no-status")}));
}

TEST(IncrementalCompileTest, ChangesOnTopOfABase) {
  auto base = PolicySnapshot::Compile(TestRegistry(), Doc(kPolicy), nullptr, 1,
                                      kNow, nullptr);
  ASSERT_TRUE(base.ok());
  // Only open.stats changes: pop keeps its policy, compiled once.
  auto next = PolicySnapshot::Compile(TestRegistry(), Doc(R"(
datasets:
  - dataset: open.stats
    forbids: [{id: closed, legal_basis: x}]
)"),
                                      base->get(), 2, kNow, nullptr);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->PolicyOf("pop"), (*base)->PolicyOf("pop"));  // shared
  EXPECT_NE((*next)->PolicyOf("open.stats"), nullptr);
  AccessRequest r = testing::Req("000.00.00.H30", "pop", "residence");
  EXPECT_TRUE((*next)->Decide(r, kNow).allowed);
  r = testing::Req("000.00.00.H29", "open.stats", "stats");
  EXPECT_TRUE((*base)->Decide(r, kNow).allowed);
  EXPECT_FALSE((*next)->Decide(r, kNow).allowed);
  // An empty policy removes one.
  auto removed = PolicySnapshot::Compile(
      TestRegistry(), Doc("datasets: [{dataset: open.stats}]"), next->get(), 3,
      kNow, nullptr);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ((*removed)->PolicyOf("open.stats"), nullptr);
  EXPECT_TRUE((*removed)->Decide(r, kNow).allowed);
}

TEST(IncrementalCompileTest, ManySmallChangesInARow) {
  // Past the number of changes kept on the side, the map is rebuilt: the
  // decisions must not tell the difference.
  auto snap = PolicySnapshot::Compile(TestRegistry(), Doc(kPolicy), nullptr, 1,
                                      kNow, nullptr);
  ASSERT_TRUE(snap.ok());
  for (int i = 0; i < 150; ++i) {
    const bool closed = i % 2 == 0;
    auto next = PolicySnapshot::Compile(
        TestRegistry(),
        Doc(closed ? "datasets: [{dataset: open.stats, forbids: [{id: f}]}]"
                   : "datasets: [{dataset: open.stats}]"),
        snap->get(), i + 2, kNow, nullptr);
    ASSERT_TRUE(next.ok()) << next.status();
    snap = next;
    AccessRequest r = testing::Req("000.00.00.H29", "open.stats", "stats");
    ASSERT_EQ((*snap)->Decide(r, kNow).allowed, !closed) << i;
    r = testing::Req("000.00.00.H30", "pop", "civil-registration");
    ASSERT_TRUE((*snap)->Decide(r, kNow).allowed) << i;
  }
}

TEST(IncrementalCompileTest, ADirectoryChangeRecompilesStoredPolicies) {
  auto base = PolicySnapshot::Compile(TestRegistry(), Doc(kPolicy), nullptr, 1,
                                      kNow, nullptr);
  ASSERT_TRUE(base.ok());
  // provinces now holds H30 only: H29's forbid no longer applies... and the
  // residents grant follows the group too.
  auto next = PolicySnapshot::Compile(TestRegistry(), Doc(R"(
directory:
  groups: [{name: provinces, members: [000.00.00.H29]}]
  agencies: [{agency: 000.00.00.H29, attributes: {province_code: "001"}}]
)"),
                                      base->get(), 2, kNow, nullptr);
  ASSERT_TRUE(next.ok()) << next.status();
  AccessRequest r = testing::Req("000.00.00.H30", "pop", "residence");
  EXPECT_FALSE((*next)->Decide(r, kNow).allowed);
  r.consumer_agency = "000.00.00.H29";
  EXPECT_TRUE((*next)->Decide(r, kNow).allowed);
  // Removing a group a stored policy uses is an error of the stored policy.
  std::vector<PolicyProblem> problems;
  auto broken =
      PolicySnapshot::Compile(TestRegistry(), Doc("directory: {groups: []}"),
                              base->get(), 2, kNow, &problems);
  ASSERT_FALSE(broken.ok());
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems[0].path, "stored:pop.grants[1].consumers[0]");
  EXPECT_THAT(problems[0].message, HasSubstr("unknown group 'provinces'"));
}

TEST(TwoPersonRuleTest, DefaultsByCategoryAndTagsAndCanBeSet) {
  const v1::Registry& r = TestRegistry()->proto();
  EXPECT_FALSE(TwoPersonRule(r.datasets(0), nullptr));  // shared
  EXPECT_TRUE(TwoPersonRule(r.datasets(2), nullptr));   // private, important
  v1::DatasetPolicy p;
  p.set_two_person_rule(true);
  EXPECT_TRUE(TwoPersonRule(r.datasets(0), &p));
  p.set_two_person_rule(false);
  EXPECT_FALSE(TwoPersonRule(r.datasets(2), &p));
}

TEST(MaskingTest, FullPartialAndKeyedHash) {
  EXPECT_EQ(MaskValue({"f", v1::MASK_KIND_FULL, 0}, "001234567890", ""), "***");
  EXPECT_EQ(MaskValue({"f", v1::MASK_KIND_PARTIAL, 4}, "001234567890", ""),
            "********7890");
  // Characters, not bytes: "Nguyễn" keeps its last two letters whole.
  EXPECT_EQ(MaskValue({"f", v1::MASK_KIND_PARTIAL, 2}, "Nguyễn", ""), "****ễn");
  EXPECT_EQ(MaskValue({"f", v1::MASK_KIND_PARTIAL, 9}, "abc", ""), "***");
  const std::string k30 = MaskKeyFor("secret", "000.00.00.H30");
  const std::string k29 = MaskKeyFor("secret", "000.00.00.H29");
  const MaskSpec hash{"f", v1::MASK_KIND_HASH, 0};
  const std::string t = MaskValue(hash, "Nguyễn Văn A", k30);
  EXPECT_EQ(t.size(), 34u);
  EXPECT_EQ(t.substr(0, 2), "h:");
  EXPECT_EQ(t, MaskValue(hash, "Nguyễn Văn A", k30));  // stable per consumer
  EXPECT_NE(t, MaskValue(hash, "Nguyễn Văn A", k29));  // unlinkable across
  EXPECT_NE(t, MaskValue(hash, "Nguyễn Văn B", k30));
}

TEST(PolicyAuthorizerTest, InstallSwapsTheSnapshot) {
  auto v1 = PolicySnapshot::Compile(TestRegistry(), v1::PolicyDocument(),
                                    nullptr, 1, kNow, nullptr);
  auto v2 = PolicySnapshot::Compile(TestRegistry(), Doc(R"(
datasets:
  - dataset: pop
    grants: [{id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}]
)"),
                                    nullptr, 2, kNow, nullptr);
  ASSERT_TRUE(v1.ok() && v2.ok());
  FakeClock clock(kNow);
  LocalQuotaStore quotas;
  PolicyAuthorizer authz(*v1, &quotas, &clock);
  AccessRequest r = testing::Req("000.00.00.H30", "pop", "p");
  EXPECT_FALSE(testing::DecideNow(authz, r).allowed);
  authz.Install(*v2);
  AccessDecision d = testing::DecideNow(authz, r);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy_version, "r2");
}

// Subscriptions (issue 26): a grant names the modes it allows; without
// `modes` it allows look-ups and streams, and a subscription must be named.
TEST(AccessModeTest, ASubscriptionNeedsAGrantThatNamesIt) {
  constexpr char kModes[] = R"(
datasets:
  - dataset: pop
    grants:
      - id: lookups
        consumers: [000.00.00.H30]
        purposes: [civil-registration]
        fields: [citizen_id, full_name]
        legal_basis: Law on Civil Status
      - id: feed
        consumers: [000.00.00.H31]
        purposes: [civil-registration]
        fields: [citizen_id, full_name]
        modes: [subscription]
        legal_basis: Law on Civil Status
)";
  std::vector<PolicyProblem> problems;
  auto snap = PolicySnapshot::Compile(TestRegistry(), Doc(kModes), nullptr, 1,
                                      kNow, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto decide = [&](const std::string& agency, v1::AccessMode mode,
                    const std::string& dataset = "pop") {
    AccessRequest r;
    r.consumer_agency = agency;
    r.dataset_id = dataset;
    r.purpose_code = "civil-registration";
    r.mode = mode;
    return (*snap)->Decide(r, kNow);
  };
  EXPECT_TRUE(decide("000.00.00.H30", v1::ACCESS_MODE_LOOKUP).allowed);
  EXPECT_TRUE(decide("000.00.00.H30", v1::ACCESS_MODE_STREAM).allowed);
  AccessDecision no = decide("000.00.00.H30", v1::ACCESS_MODE_SUBSCRIPTION);
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.rule_id, "lookups");
  EXPECT_THAT(no.message, HasSubstr("does not allow mode 'subscription'"));
  EXPECT_THAT(no.message, HasSubstr("modes: [subscription]"));
  EXPECT_TRUE(decide("000.00.00.H31", v1::ACCESS_MODE_SUBSCRIPTION).allowed);
  // Naming modes replaces the default: this grant allows no look-ups.
  EXPECT_FALSE(decide("000.00.00.H31", v1::ACCESS_MODE_LOOKUP).allowed);
  // Open data is read on request by anyone; subscribing needs a grant.
  EXPECT_TRUE(
      decide("000.00.00.H30", v1::ACCESS_MODE_LOOKUP, "open.stats").allowed);
  EXPECT_FALSE(
      decide("000.00.00.H30", v1::ACCESS_MODE_SUBSCRIPTION, "open.stats")
          .allowed);
}

}  // namespace
}  // namespace dx::policy
