#include "certs/grpc_caller.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace dx::certs {

absl::StatusOr<Principal> AuthorizeCaller(
    const grpc::ServerContextBase& ctx, TrustStore& trust,
    std::initializer_list<PrincipalKind> allowed, absl::string_view what) {
  auto auth = ctx.auth_context();
  auto values = auth ? auth->FindPropertyValues("x509_pem_cert")
                     : std::vector<grpc::string_ref>{};
  if (values.empty()) {
    return absl::UnauthenticatedError("no TLS client certificate");
  }
  CertVerdict v = trust.VerifyPem(
      absl::string_view(values.front().data(), values.front().size()));
  if (!v.ok()) return absl::UnauthenticatedError(v.message);
  for (PrincipalKind k : allowed) {
    if (v.cert->principal.kind == k) return v.cert->principal;
  }
  std::string roles;
  for (PrincipalKind k : allowed) {
    absl::StrAppend(&roles, roles.empty() ? "" : ", ", PrincipalKindName(k));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "this ", what, " call is for: ", roles, "; your certificate is a ",
      PrincipalKindName(v.cert->principal.kind), "'s"));
}

std::string ActorName(const Principal& who) {
  return absl::StrCat(PrincipalKindName(who.kind), ":", who.id);
}

}  // namespace dx::certs
