#include "certs/identity.h"

#include <openssl/x509v3.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dx::certs {
namespace {

struct Scheme {
  absl::string_view prefix;
  PrincipalKind kind;
  bool agency_code;  // the id is an agency code (else a lower-case name)
};

constexpr Scheme kSchemes[] = {
    {"urn:dx:agency:", PrincipalKind::kAgency, true},
    {"urn:dx:gateway:", PrincipalKind::kGateway, false},
    {"urn:dx:adapter:", PrincipalKind::kAdapter, true},
    {"urn:dx:auditor:", PrincipalKind::kAuditor, false},
    {"urn:dx:operator:", PrincipalKind::kOperator, false},
    {"urn:dx:policy-admin:", PrincipalKind::kPolicyAdmin, false},
};

const Scheme* SchemeOf(absl::string_view uri) {
  for (const Scheme& s : kSchemes) {
    if (absl::StartsWith(uri, s.prefix)) return &s;
  }
  return nullptr;
}

// Names of gateways and people: 1-64 of a-z, 0-9, '.', '-', '_'.
bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

const char* PrincipalKindName(PrincipalKind kind) {
  switch (kind) {
    case PrincipalKind::kAgency:
      return "agency";
    case PrincipalKind::kGateway:
      return "gateway";
    case PrincipalKind::kAdapter:
      return "adapter";
    case PrincipalKind::kAuditor:
      return "auditor";
    case PrincipalKind::kOperator:
      return "operator";
    case PrincipalKind::kPolicyAdmin:
      return "policy-admin";
  }
  return "unknown";
}

bool IsValidAgencyCode(absl::string_view code) {
  if (code.empty() || code.size() > 35) return false;
  bool group_empty = true;
  for (char c : code) {
    if (c == '.') {
      if (group_empty) return false;
      group_empty = true;
    } else if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) {
      group_empty = false;
    } else {
      return false;
    }
  }
  return !group_empty;
}

absl::StatusOr<Principal> PrincipalOf(X509* cert) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::vector<std::pair<Principal, const Scheme*>> found;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = name->d.uniformResourceIdentifier;
    absl::string_view uri(reinterpret_cast<const char*>(s->data), s->length);
    if (const Scheme* scheme = SchemeOf(uri)) {
      found.push_back({Principal{scheme->kind, std::string(uri.substr(
                                                   scheme->prefix.size()))},
                       scheme});
    }
  }
  GENERAL_NAMES_free(names);
  if (found.empty()) {
    return absl::InvalidArgumentError(
        "certificate carries no dx identity (expected a subjectAltName URI "
        "urn:dx:agency:<CODE>)");
  }
  if (found.size() > 1) {
    return absl::InvalidArgumentError(
        "certificate carries more than one dx identity");
  }
  const auto& [principal, scheme] = found[0];
  if (scheme->agency_code && !IsValidAgencyCode(principal.id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate names '", principal.id,
        "', which is not an electronic agency code (e.g. 000.00.00.G01)"));
  }
  if (!scheme->agency_code && !IsValidName(principal.id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate names '", principal.id,
                     "', which is not a valid name (1-64 of a-z 0-9 . - _)"));
  }
  return principal;
}

std::string ActorName(const Principal& who) {
  return absl::StrCat(PrincipalKindName(who.kind), ":", who.id);
}

}  // namespace dx::certs
