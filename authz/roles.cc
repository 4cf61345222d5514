#include "authz/roles.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dx::authz {
namespace {

using certs::PrincipalKind;

constexpr absl::string_view kAudit = "/dx.v1.Audit/";
constexpr absl::string_view kPolicy = "/dx.v1.PolicyAdmin/";
constexpr absl::string_view kRegistry = "/dx.v1.RegistryAdmin/";
constexpr absl::string_view kNode = "/dx.v1.Node/";

std::vector<MethodRule> MakeTable() {
  const std::vector<PrincipalKind> auditor = {PrincipalKind::kAuditor};
  const std::vector<PrincipalKind> auditor_or_operator = {
      PrincipalKind::kAuditor, PrincipalKind::kOperator};
  // Tree heads and consistency proofs are public commitments: any
  // authenticated party may check the log did not fork.
  const std::vector<PrincipalKind> anyone = {
      PrincipalKind::kAgency,   PrincipalKind::kGateway,
      PrincipalKind::kAdapter,  PrincipalKind::kAuditor,
      PrincipalKind::kOperator, PrincipalKind::kPolicyAdmin};
  const std::vector<PrincipalKind> policy_admin = {PrincipalKind::kPolicyAdmin};
  const std::vector<PrincipalKind> policy_reader = {PrincipalKind::kPolicyAdmin,
                                                    PrincipalKind::kAuditor,
                                                    PrincipalKind::kOperator};
  auto audit = [](const char* m) { return absl::StrCat(kAudit, m); };
  auto policy = [](const char* m) { return absl::StrCat(kPolicy, m); };
  auto registry = [](const char* m) { return absl::StrCat(kRegistry, m); };
  return {
      {audit("Query"), auditor, "audit search"},
      {audit("GetRecord"), auditor, "audit record"},
      // An agency may prove what it was sent (its own exchanges only: the
      // service checks the record's consumer).
      {audit("GetInclusionProof"),
       {PrincipalKind::kAuditor, PrincipalKind::kAgency},
       "inclusion proof"},
      {audit("GetConsistencyProof"), anyone, "consistency proof"},
      {audit("GetTreeHead"), anyone, "tree head"},
      {audit("ListTreeHeads"), anyone, "tree head"},
      {audit("GetCompactRange"), anyone, "compact range"},
      {audit("GetCheckpointProof"), anyone, "checkpoint proof"},
      {audit("ReadRecords"), auditor_or_operator, "audit records"},
      {audit("SubjectReport"), auditor, "subject report"},
      {audit("RecordRecipients"), auditor, "record recipients"},
      {audit("Export"), auditor_or_operator, "audit export"},
      {audit("Prune"), {PrincipalKind::kOperator}, "audit prune"},
      {audit("StatisticsReport"), auditor, "statistics report"},
      {policy("Apply"), policy_admin, "policy change"},
      {policy("Rollback"), policy_admin, "policy change"},
      {policy("Approve"), policy_admin, "policy change"},
      {policy("Reject"), policy_admin, "policy change"},
      {policy("Validate"), policy_reader, "policy"},
      {policy("Get"), policy_reader, "policy"},
      {policy("List"), policy_reader, "policy"},
      {policy("History"), policy_reader, "policy"},
      {policy("Diff"), policy_reader, "policy"},
      {policy("ListPending"), policy_reader, "policy"},
      {policy("Explain"), policy_reader, "policy"},
      // Operators run the registry (agencies, datasets, adapters); who may
      // read what stays the policy administrators'.
      {registry("Apply"), {PrincipalKind::kOperator}, "registry change"},
      {registry("Get"), policy_reader, "registry"},
      {registry("History"), policy_reader, "registry"},
      {absl::StrCat(kNode, "Status"), policy_reader, "node status"},
      {absl::StrCat(kNode, "Backup"), {PrincipalKind::kOperator}, "backup"},
  };
}

}  // namespace

const std::vector<MethodRule>& AllRules() {
  static const auto* table = new std::vector<MethodRule>(MakeTable());
  return *table;
}

bool Governs(absl::string_view method) {
  return absl::StartsWith(method, kAudit) ||
         absl::StartsWith(method, kPolicy) ||
         absl::StartsWith(method, kRegistry) || absl::StartsWith(method, kNode);
}

const MethodRule* RuleFor(absl::string_view method) {
  for (const MethodRule& r : AllRules()) {
    if (r.method == method) return &r;
  }
  return nullptr;
}

absl::Status Allow(const certs::Principal& who, absl::string_view method) {
  const MethodRule* rule = RuleFor(method);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(method,
                     " is not in the authorization table; nobody may "
                     "call it"));
  }
  if (std::find(rule->roles.begin(), rule->roles.end(), who.kind) !=
      rule->roles.end()) {
    return absl::OkStatus();
  }
  std::string roles;
  for (PrincipalKind k : rule->roles) {
    absl::StrAppend(&roles, roles.empty() ? "" : ", ", PrincipalKindName(k));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "this ", rule->what, " call is for: ", roles,
      "; your certificate's role is ", PrincipalKindName(who.kind)));
}

std::string RefusalAction(absl::string_view method) {
  if (absl::StartsWith(method, kPolicy)) return "policy.refused";
  if (absl::StartsWith(method, kRegistry)) return "registry.refused";
  return "audit.refused";
}

}  // namespace dx::authz
