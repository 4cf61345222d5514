// Who a certificate speaks for. The one documented place is the
// subjectAltName URI: "urn:dx:agency:<CODE>" for an agency's systems,
// "urn:dx:gateway:<NODE>" for a gateway, "urn:dx:adapter:<CODE>" for a
// provider's adapter, and for people "urn:dx:auditor:<NAME>",
// "urn:dx:operator:<NAME>", "urn:dx:policy-admin:<NAME>" (certs/README.md).
#ifndef DX_CERTS_IDENTITY_H_
#define DX_CERTS_IDENTITY_H_

#include <openssl/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dx::certs {

enum class PrincipalKind {
  kAgency,
  kGateway,
  kAdapter,
  kAuditor,
  kOperator,
  kPolicyAdmin,
};

// "agency", "gateway", ... as in the URI.
const char* PrincipalKindName(PrincipalKind kind);

struct Principal {
  PrincipalKind kind;
  // The agency code (agencies, adapters), or a name: the gateway node id, a
  // person's user name.
  std::string id;
};

// True when `code` is an electronic agency code: at most 35 characters,
// dot-separated non-empty groups of 0-9 and A-Z.
bool IsValidAgencyCode(absl::string_view code);

// The single dx principal named in `cert`'s subjectAltName URIs. Errors when
// there is none, or more than one (a certificate speaks for one party).
absl::StatusOr<Principal> PrincipalOf(X509* cert);

// "policy-admin:alice": how audit records name a person or system.
std::string ActorName(const Principal& who);

}  // namespace dx::certs

#endif  // DX_CERTS_IDENTITY_H_
