// The one table of who may call what on dxgate's administrative services
// (Audit, PolicyAdmin, RegistryAdmin), by the role in the caller's certificate
// (certs/identity.h). The gRPC interceptor (authz/call_gate.h) and the web
// console decide with this table and nothing else. A method of those
// services that is missing here is refused to everyone (fail closed).
// Plain C++, no gRPC.
#ifndef DX_AUTHZ_ROLES_H_
#define DX_AUTHZ_ROLES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "certs/identity.h"

namespace dx::authz {

struct MethodRule {
  // "/dx.v1.PolicyAdmin/Apply".
  std::string method;
  std::vector<certs::PrincipalKind> roles;
  // What the method does, for refusal messages ("policy change").
  std::string what;
};

// True for the methods of the services this table governs.
bool Governs(absl::string_view method);

// The rule of `method`, or null when the table has none.
const MethodRule* RuleFor(absl::string_view method);

// Every rule, in the table's order (documentation, tests).
const std::vector<MethodRule>& AllRules();

// OK when `who` may call `method`; PERMISSION_DENIED naming the roles that
// may, and the caller's, otherwise.
absl::Status Allow(const certs::Principal& who, absl::string_view method);

// The audit action of a refusal on `method`'s service: "policy.refused",
// "registry.refused" or "audit.refused".
std::string RefusalAction(absl::string_view method);

}  // namespace dx::authz

#endif  // DX_AUTHZ_ROLES_H_
