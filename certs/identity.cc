#include "certs/identity.h"

#include <openssl/x509v3.h>

#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dx::certs {
namespace {

constexpr absl::string_view kAgencyPrefix = "urn:dx:agency:";
constexpr absl::string_view kGatewayPrefix = "urn:dx:gateway:";
constexpr absl::string_view kAdapterPrefix = "urn:dx:adapter:";

std::optional<Principal> ParseUri(absl::string_view uri) {
  if (absl::StartsWith(uri, kAgencyPrefix)) {
    return Principal{PrincipalKind::kAgency,
                     std::string(uri.substr(kAgencyPrefix.size()))};
  }
  if (absl::StartsWith(uri, kGatewayPrefix)) {
    return Principal{PrincipalKind::kGateway,
                     std::string(uri.substr(kGatewayPrefix.size()))};
  }
  if (absl::StartsWith(uri, kAdapterPrefix)) {
    return Principal{PrincipalKind::kAdapter,
                     std::string(uri.substr(kAdapterPrefix.size()))};
  }
  return std::nullopt;
}

}  // namespace

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
  std::vector<Principal> found;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = name->d.uniformResourceIdentifier;
    absl::string_view uri(reinterpret_cast<const char*>(s->data), s->length);
    if (auto p = ParseUri(uri)) found.push_back(*p);
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
  if (found[0].kind != PrincipalKind::kGateway &&
      !IsValidAgencyCode(found[0].id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate names '", found[0].id,
        "', which is not an electronic agency code (e.g. 000.00.00.G01)"));
  }
  return found[0];
}

}  // namespace dx::certs
