#include "gateway/federation_routes.h"

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "federation/peer_trust.h"
#include "gateway/federation_anchors.h"

namespace dx::gateway {
namespace {

// How long a verdict on a certificate is kept (a certificate that expires
// or is dropped from an anchor is refused within this, or at once when the
// anchors change), and how many are kept (then all are dropped at once).
constexpr absl::Duration kVerdictLifetime = absl::Minutes(1);
constexpr size_t kMaxVerdicts = 4096;

std::string DerToPem(const std::string& der) {
  auto cert = certs::ParseCertificateDer(der);
  return cert.ok() ? certs::CertificateToPem(cert->get()) : std::string();
}

}  // namespace

struct FederationRoutes::Cached {
  std::string anchors;  // AnchorsToken() when it was decided
  absl::Time until;
  absl::Status status;  // the verdict; OK: the values below
  Hop hop;
  std::string platform;
  std::shared_ptr<EVP_PKEY> key;

  // The verdict `decided`: its value into `*value`, or its error.
  template <typename T>
  void Take(absl::StatusOr<T> decided, T* value) {
    if (decided.ok()) {
      *value = *std::move(decided);
    } else {
      status = decided.status();
    }
  }
};

std::shared_ptr<const FederationRoutes::Cached> FederationRoutes::CachedVerdict(
    const std::string& key,
    absl::FunctionRef<void(absl::Time now, Cached* out)> decide) const {
  const absl::Time now = clock_->Now();
  const std::string token = AnchorsToken();
  if (auto hit = Lookup(key, token, now)) return hit;
  auto verdict = std::make_shared<Cached>();
  verdict->anchors = token;
  verdict->until = VerdictUntil(now);
  decide(now, verdict.get());
  Keep(key, verdict);
  return verdict;
}

std::string FederationRoutes::AnchorsToken() const {
  std::string token;
  // An anchor replaces the one in force only with a higher serial, so
  // (operator, serial) names each anchor once (an address could be reused).
  for (const auto& anchor : anchors_->All()) {
    absl::StrAppend(&token, anchor->proto().platform_id(), "#",
                    anchor->serial(), ",");
  }
  return token;
}

absl::Time FederationRoutes::VerdictUntil(absl::Time now) const {
  // Never past the moment an anchor in force expires: what it vouched for
  // ends then, cached or not.
  absl::Time until = now + kVerdictLifetime;
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() > now)
      until = std::min(until, anchor->expires_at());
  }
  return until;
}

std::shared_ptr<const FederationRoutes::Cached> FederationRoutes::Lookup(
    const std::string& key, const std::string& token, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(key);
  if (it == cache_.end() || it->second->anchors != token ||
      now >= it->second->until) {
    return nullptr;
  }
  return it->second;
}

void FederationRoutes::Keep(const std::string& key,
                            std::shared_ptr<const Cached> verdict) const {
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxVerdicts) cache_.clear();
  cache_[key] = std::move(verdict);
}

absl::StatusOr<PeerRoute> FederationRoutes::RouteTo(
    const v1::Dataset& dataset) const {
  const std::string& to = dataset.peer_platform();
  if (to == platform_id_) {
    return absl::FailedPreconditionError(
        absl::StrCat("dataset ", dataset.id(), " names this platform (", to,
                     ") as its peer_platform: name an adapter instead"));
  }
  const absl::Time now = clock_->Now();
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    const federation::Platform* p = anchor->Find(to);
    if (p == nullptr || p->gateways.empty()) continue;
    PeerRoute route;
    route.platform_id = p->id;
    route.gateways = p->gateways;
    for (const std::string& der : p->roots_der) {
      route.roots_pem += DerToPem(der);
    }
    return route;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "dataset ", dataset.id(), " is served by platform ", to,
      ", but no federation anchor in force names that platform with a "
      "gateway (an anchor past its expiry counts for nothing): import a "
      "current anchor that lists it"));
}

absl::StatusOr<std::string> FederationRoutes::AnswerSignerPlatform(
    const std::string& signer_der) const {
  auto verdict = CachedVerdict(
      absl::StrCat("answer|", certs::Sha256(signer_der)),
      [&](absl::Time now, Cached* out) {
        out->Take(DecideAnswerSigner(signer_der, now), &out->platform);
      });
  if (!verdict->status.ok()) return verdict->status;
  return verdict->platform;
}

absl::StatusOr<std::string> FederationRoutes::DecideAnswerSigner(
    const std::string& signer_der, absl::Time now) const {
  auto cert = certs::ParseCertificateDer(signer_der);
  if (!cert.ok()) {
    return absl::PermissionDeniedError(
        "the answer's signer certificate does not parse");
  }
  auto who = certs::PrincipalOf(cert->get());
  if (!who.ok() || who->kind != certs::PrincipalKind::kGateway) {
    return absl::PermissionDeniedError(
        "the answer's signer certificate does not name a gateway");
  }
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    for (const federation::Platform& p : anchor->platforms()) {
      if (p.id == platform_id_) continue;
      if (certs::VerifyChainAt(signer_der, p.intermediates_der, p.roots_der,
                               absl::ToUnixSeconds(now))
              .ok()) {
        return p.id;
      }
    }
  }
  return absl::PermissionDeniedError(
      absl::StrCat("the answer is signed by gateway ", who->id,
                   ", whose certificate chains to no peer platform's roots"));
}

std::string FederationRoutes::ServingPlatform(const v1::Dataset& dataset,
                                              const PeerRoute& route) const {
  const absl::Time now = clock_->Now();
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    const federation::Platform* p = anchor->PlatformOfDataset(dataset.id());
    if (p != nullptr && p->id != platform_id_) return p->id;
  }
  return route.platform_id;
}

absl::StatusOr<std::string> FederationRoutes::VerifyOriginSigner(
    const std::string& consumer_agency, const std::string& signer_der) const {
  auto verdict = CachedVerdict(
      absl::StrCat("origin|", consumer_agency, "|", certs::Sha256(signer_der)),
      [&](absl::Time now, Cached* out) {
        out->Take(DecideOriginSigner(consumer_agency, signer_der, now),
                  &out->platform);
      });
  if (!verdict->status.ok()) return verdict->status;
  return verdict->platform;
}

absl::StatusOr<std::string> FederationRoutes::DecideOriginSigner(
    const std::string& consumer_agency, const std::string& signer_der,
    absl::Time now) const {
  auto cert = certs::ParseCertificateDer(signer_der);
  if (!cert.ok()) {
    return absl::PermissionDeniedError(
        "the origin attestation's certificate does not parse");
  }
  auto who = certs::PrincipalOf(cert->get());
  if (!who.ok() || who->kind != certs::PrincipalKind::kGateway) {
    return absl::PermissionDeniedError(
        "the origin attestation is not signed by a gateway");
  }
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    const federation::Platform* p = anchor->PlatformOfAgency(consumer_agency);
    if (p == nullptr) continue;
    if (p->id == platform_id_) {
      return absl::PermissionDeniedError(absl::StrCat(
          "agency ", consumer_agency, " is this platform's (", platform_id_,
          "): its requests come straight to this platform"));
    }
    if (certs::VerifyChainAt(signer_der, p->intermediates_der, p->roots_der,
                             absl::ToUnixSeconds(now))
            .ok()) {
      return p->id;
    }
    return absl::PermissionDeniedError(
        absl::StrCat("the origin attestation is signed by gateway ", who->id,
                     ", not by a gateway of ", p->id,
                     ", the platform of agency ", consumer_agency,
                     ": the request did not come through its own "
                     "platform"));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "no anchor in force names a platform that speaks for agency ",
      consumer_agency));
}

std::string FederationRoutes::PeerGatewayRootsPem() const {
  std::string pem;
  const absl::Time now = clock_->Now();
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    for (const federation::Platform& p : anchor->platforms()) {
      if (p.id == platform_id_ || p.gateways.empty()) continue;
      for (const std::string& der : p.roots_der) pem += DerToPem(der);
    }
  }
  return pem;
}

absl::StatusOr<Hop> FederationRoutes::IdentifyHop(
    const std::string& tls_pem) const {
  auto verdict = CachedVerdict(absl::StrCat("hop|", certs::Sha256(tls_pem)),
                               [&](absl::Time now, Cached* out) {
                                 out->Take(DecideHop(tls_pem, now), &out->hop);
                               });
  if (!verdict->status.ok()) return verdict->status;
  return verdict->hop;
}

absl::StatusOr<Hop> FederationRoutes::DecideHop(const std::string& tls_pem,
                                                absl::Time now) const {
  auto der = certs::PemBundleToDer(tls_pem);
  if (!der.ok() || der->empty()) {
    return absl::PermissionDeniedError("no TLS certificate");
  }
  // Cheap first: most callers are agencies, not gateways.
  auto cert = certs::ParseCertificateDer(der->front());
  if (!cert.ok()) return cert.status();
  auto who = certs::PrincipalOf(cert->get());
  if (!who.ok() || who->kind != certs::PrincipalKind::kGateway) {
    return absl::PermissionDeniedError("not a gateway");
  }
  absl::Status last = absl::PermissionDeniedError("no anchor in force");
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    absl::StatusOr<const federation::Platform*> p =
        federation::PlatformOfPeerGateway(*anchor, der->front(), now);
    if (!p.ok()) {
      last = p.status();
      continue;
    }
    if ((*p)->id == platform_id_) {
      return absl::PermissionDeniedError(
          "a gateway of this very platform is not a hop");
    }
    return Hop{(*p)->id, who->id};
  }
  return last;
}

absl::StatusOr<certs::PkeyPtr> FederationRoutes::VerifyForwardedConsumer(
    const std::string& consumer_agency, const std::string& signer_der) const {
  auto verdict = CachedVerdict(
      absl::StrCat("consumer|", consumer_agency, "|",
                   certs::Sha256(signer_der)),
      [&](absl::Time now, Cached* out) {
        absl::StatusOr<certs::PkeyPtr> key =
            DecideForwardedConsumer(consumer_agency, signer_der, now);
        if (!key.ok()) {
          out->status = key.status();
          return;
        }
        out->key = std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free);
      });
  if (!verdict->status.ok()) return verdict->status;
  // A reference of the caller's own to the shared key.
  EVP_PKEY_up_ref(verdict->key.get());
  return certs::PkeyPtr(verdict->key.get());
}

absl::StatusOr<certs::PkeyPtr> FederationRoutes::DecideForwardedConsumer(
    const std::string& consumer_agency, const std::string& signer_der,
    absl::Time now) const {
  absl::Status last = absl::PermissionDeniedError(absl::StrCat(
      "federation: no anchor in force names a platform that speaks for "
      "agency ",
      consumer_agency));
  for (const auto& anchor : anchors_->All()) {
    if (anchor->expires_at() <= now) continue;
    const federation::Platform* speaks =
        anchor->PlatformOfAgency(consumer_agency);
    if (speaks == nullptr) continue;
    if (speaks->id == platform_id_) {
      // Our own agencies call us directly, where their CRL is checked; one
      // that comes back through a peer is refused, whatever its path says.
      return absl::PermissionDeniedError(absl::StrCat(
          "federation: agency ", consumer_agency, " is this platform's (",
          platform_id_,
          "): its requests come straight to this platform, not through a "
          "peer"));
    }
    absl::StatusOr<federation::FederatedConsumer> c =
        federation::VerifyFederatedConsumer(*anchor, consumer_agency,
                                            signer_der, now);
    if (c.ok()) return std::move(c->key);
    last = c.status();
  }
  return last;
}

}  // namespace dx::gateway
