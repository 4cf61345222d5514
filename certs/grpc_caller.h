// Who is calling an administrative gRPC service (Audit, PolicyAdmin): the
// TLS client certificate, checked again against our trust store and CRLs,
// and its role from the SAN URI. Apart from identity.h so that only the
// services pull in gRPC.
#ifndef DX_CERTS_GRPC_CALLER_H_
#define DX_CERTS_GRPC_CALLER_H_

#include <initializer_list>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/identity.h"
#include "certs/trust_store.h"

namespace grpc {
class ServerContextBase;
}

namespace dx::certs {

// UNAUTHENTICATED without a valid certificate; PERMISSION_DENIED when its
// role is not one of `allowed` (the message names the roles of `what`).
absl::StatusOr<Principal> AuthorizeCaller(
    const grpc::ServerContextBase& ctx, TrustStore& trust,
    std::initializer_list<PrincipalKind> allowed, absl::string_view what);

// "policy-admin:alice": how audit records name a person or system.
std::string ActorName(const Principal& who);

}  // namespace dx::certs

#endif  // DX_CERTS_GRPC_CALLER_H_
