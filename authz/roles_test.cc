#include "authz/roles.h"

#include <gtest/gtest.h>

#include "dx/v1/audit.pb.h"
#include "dx/v1/cluster.pb.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx::authz {
namespace {

using certs::Principal;
using certs::PrincipalKind;

// Every method the two services declare has a rule: a method added to a
// .proto without one is refused to everyone, and this test says so.
TEST(RolesTest, EveryAdministrativeMethodHasARule) {
  for (const auto* service :
       {v1::AuditRecord::descriptor()->file()->FindServiceByName("Audit"),
        v1::PolicyDocument::descriptor()->file()->FindServiceByName(
            "PolicyAdmin"),
        v1::Registry::descriptor()->file()->FindServiceByName("RegistryAdmin"),
        v1::NodeStatus::descriptor()->file()->FindServiceByName("Node")}) {
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string method =
          "/" + service->full_name() + "/" + service->method(i)->name();
      EXPECT_TRUE(Governs(method)) << method;
      EXPECT_NE(RuleFor(method), nullptr) << method << " has no rule";
    }
  }
}

TEST(RolesTest, EachRoleMayDoWhatItsJobNeedsAndNoMore) {
  const Principal admin{PrincipalKind::kPolicyAdmin, "alice"};
  const Principal auditor{PrincipalKind::kAuditor, "an"};
  const Principal ops{PrincipalKind::kOperator, "ops1"};
  const Principal agency{PrincipalKind::kAgency, "000.00.00.H30"};
  EXPECT_TRUE(Allow(admin, "/dx.v1.PolicyAdmin/Apply").ok());
  EXPECT_EQ(Allow(auditor, "/dx.v1.PolicyAdmin/Apply").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Allow(auditor, "/dx.v1.PolicyAdmin/Get").ok());
  EXPECT_TRUE(Allow(auditor, "/dx.v1.Audit/Query").ok());
  EXPECT_FALSE(Allow(admin, "/dx.v1.Audit/Query").ok());
  EXPECT_TRUE(Allow(ops, "/dx.v1.Audit/Prune").ok());
  EXPECT_FALSE(Allow(auditor, "/dx.v1.Audit/Prune").ok());
  EXPECT_TRUE(Allow(auditor, "/dx.v1.Audit/StatisticsReport").ok());
  EXPECT_FALSE(Allow(ops, "/dx.v1.Audit/StatisticsReport").ok());
  EXPECT_FALSE(Allow(agency, "/dx.v1.Audit/StatisticsReport").ok());
  EXPECT_TRUE(Allow(agency, "/dx.v1.Audit/GetTreeHead").ok());
  EXPECT_TRUE(Allow(agency, "/dx.v1.Audit/GetInclusionProof").ok());
  EXPECT_FALSE(Allow(agency, "/dx.v1.PolicyAdmin/Get").ok());
  EXPECT_TRUE(Allow(ops, "/dx.v1.RegistryAdmin/Apply").ok());
  EXPECT_FALSE(Allow(admin, "/dx.v1.RegistryAdmin/Apply").ok());
  EXPECT_TRUE(Allow(admin, "/dx.v1.RegistryAdmin/Get").ok());
  absl::Status refused = Allow(agency, "/dx.v1.Audit/SubjectReport");
  EXPECT_EQ(refused.message(),
            "this subject report call is for: auditor; your certificate's "
            "role is agency");
}

TEST(RolesTest, AnUnknownMethodOfAGovernedServiceIsRefusedToEveryone) {
  const Principal admin{PrincipalKind::kPolicyAdmin, "alice"};
  EXPECT_TRUE(Governs("/dx.v1.PolicyAdmin/DropEverything"));
  EXPECT_EQ(Allow(admin, "/dx.v1.PolicyAdmin/DropEverything").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(Governs("/dx.v1.Exchange/Call"));
}

TEST(RolesTest, RefusalsAreRecordedUnderTheirServicesAction) {
  EXPECT_EQ(RefusalAction("/dx.v1.PolicyAdmin/Apply"), "policy.refused");
  EXPECT_EQ(RefusalAction("/dx.v1.Audit/Query"), "audit.refused");
  EXPECT_EQ(RefusalAction("/dx.v1.RegistryAdmin/Apply"), "registry.refused");
}

}  // namespace
}  // namespace dx::authz
