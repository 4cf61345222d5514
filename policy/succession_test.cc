// Decisions for a consumer whose code was succeeded (registry successions):
// refused from the effective date naming the successors and the legal
// basis; in a grace period decided as before, with the successors kept for
// the audit record; the successor itself unaffected.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/snapshot.h"
#include "policy/testing/fixtures.h"

namespace dx::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kEffective = absl::FromUnixSeconds(1751302800);  // 07-01 +7

constexpr char kSuccessions[] = R"(
successions:
  - agency: 000.00.00.H30
    successors: [000.00.00.H29]
    effective: "2025-07-01T00:00:00+07:00"
    grace_until: "2025-08-01T00:00:00+07:00"
    legal_basis: Resolution 202/2025/QH15
)";

constexpr char kPolicy[] = R"(
datasets:
  - dataset: pop
    grants:
      - id: civil
        consumers: [000.00.00.H30, 000.00.00.H29]
        purposes: [civil-registration]
        fields: [full_name]
        legal_basis: Law on Civil Status
)";

class SuccessionDecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reg = registry::Registry::FromYaml(
        std::string(testing::kRegistryYaml) + kSuccessions, "registry.yaml");
    ASSERT_TRUE(reg.ok()) << reg.status();
    auto s = PolicySnapshot::Compile(*reg, testing::Doc(kPolicy), nullptr, 3,
                                     kEffective, nullptr);
    ASSERT_TRUE(s.ok()) << s.status();
    snap_ = *s;
  }
  AccessDecision Decide(const std::string& agency, absl::Time at) {
    AccessRequest r;
    r.consumer_agency = agency;
    r.dataset_id = "pop";
    r.purpose_code = "civil-registration";
    r.fields = {"full_name"};
    return snap_->Decide(r, at);
  }
  std::shared_ptr<const PolicySnapshot> snap_;
};

TEST_F(SuccessionDecisionTest, BeforeTheDateNothingChanges) {
  AccessDecision d = Decide("000.00.00.H30", kEffective - absl::Seconds(1));
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_THAT(d.consumer_successors, IsEmpty());
}

TEST_F(SuccessionDecisionTest, InGraceServedAndMarked) {
  AccessDecision d = Decide("000.00.00.H30", kEffective);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.rule_id, "civil");
  EXPECT_THAT(d.consumer_successors, ElementsAre("000.00.00.H29"));
}

TEST_F(SuccessionDecisionTest, AfterGraceRefusedNamingSuccessorAndBasis) {
  // Even though a grant still names the old code.
  AccessDecision d = Decide("000.00.00.H30", kEffective + absl::Hours(24 * 31));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_AGENCY_SUCCEEDED);
  EXPECT_EQ(d.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d.legal_basis, "Resolution 202/2025/QH15");
  EXPECT_THAT(d.message, HasSubstr("succeeded by 000.00.00.H29"));
  EXPECT_THAT(d.message, HasSubstr("grace period ended"));
  EXPECT_THAT(d.message, HasSubstr("call as 000.00.00.H29"));
  EXPECT_THAT(d.consumer_successors, ElementsAre("000.00.00.H29"));
  // Refused before the dataset is looked at: an unknown dataset too.
  AccessRequest r;
  r.consumer_agency = "000.00.00.H30";
  r.dataset_id = "no-such";
  EXPECT_EQ(snap_->Decide(r, kEffective + absl::Hours(24 * 31)).reason,
            v1::REASON_AGENCY_SUCCEEDED);
}

TEST_F(SuccessionDecisionTest, TheSuccessorIsUnaffected) {
  AccessDecision d = Decide("000.00.00.H29", kEffective + absl::Hours(24 * 31));
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_THAT(d.consumer_successors, IsEmpty());
}

}  // namespace
}  // namespace dx::policy
