#include "federation/peer_trust.h"

#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "certs/identity.h"

namespace dx::federation {
namespace {

absl::Status Denied(absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("federation: ", what));
}

}  // namespace

absl::StatusOr<FederatedConsumer> VerifyFederatedConsumer(
    const Anchor& anchor, absl::string_view consumer_agency,
    const std::string& signer_der, absl::Time now) {
  const Platform* platform = anchor.PlatformOfAgency(consumer_agency);
  if (platform == nullptr) {
    return Denied(absl::StrCat(
        "no federated platform speaks for agency ", consumer_agency,
        " (the anchor in force names none): ask its platform's operator to "
        "be listed in the anchor"));
  }
  absl::StatusOr<certs::X509Ptr> cert = certs::ParseCertificateDer(signer_der);
  if (!cert.ok()) return Denied("the signer certificate does not parse");
  absl::StatusOr<certs::Principal> who = certs::PrincipalOf(cert->get());
  if (!who.ok() || who->kind != certs::PrincipalKind::kAgency ||
      who->id != consumer_agency) {
    return Denied(absl::StrCat("the signer certificate does not name agency ",
                               consumer_agency));
  }
  absl::StatusOr<certs::PkeyPtr> key =
      certs::VerifyChainAt(signer_der, platform->intermediates_der,
                           platform->roots_der, absl::ToUnixSeconds(now));
  if (!key.ok()) {
    return Denied(absl::StrCat(
        "agency ", consumer_agency, "'s certificate ",
        "does not chain to the roots of ", platform->id,
        ", the platform that speaks for it: ", key.status().message()));
  }
  return FederatedConsumer{platform, *std::move(key)};
}

absl::StatusOr<const Platform*> PlatformOfPeerGateway(
    const Anchor& anchor, const std::string& tls_der, absl::Time now) {
  absl::StatusOr<certs::X509Ptr> cert = certs::ParseCertificateDer(tls_der);
  if (!cert.ok()) return Denied("the peer's TLS certificate does not parse");
  absl::StatusOr<certs::Principal> who = certs::PrincipalOf(cert->get());
  if (!who.ok() || who->kind != certs::PrincipalKind::kGateway) {
    return Denied("the peer's TLS certificate does not name a gateway");
  }
  std::string chained_to;  // a platform whose roots it chains to
  for (const Platform& platform : anchor.platforms()) {
    if (!certs::VerifyChainAt(tls_der, platform.intermediates_der,
                              platform.roots_der, absl::ToUnixSeconds(now))
             .ok()) {
      continue;
    }
    for (const v1::FederationGateway& g : platform.gateways) {
      if (X509_check_host(cert->get(), g.tls_name().data(), g.tls_name().size(),
                          0, nullptr) == 1) {
        return &platform;
      }
    }
    chained_to = platform.id;
  }
  if (!chained_to.empty()) {
    return Denied(absl::StrCat("gateway ", who->id, " chains to ", chained_to,
                               "'s roots but carries none of its gateways' "
                               "TLS names"));
  }
  return Denied(absl::StrCat("gateway ", who->id,
                             " chains to no federated platform's roots"));
}

}  // namespace dx::federation
