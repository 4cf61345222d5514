#include "gateway/request_checker.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "common/visible_text.h"

namespace dx::gateway {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

bool IsPrintableAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

Refusal CertRefusal(const certs::CertVerdict& verdict, const char* which) {
  v1::ReasonCode reason = v1::REASON_CERT_UNTRUSTED;
  switch (verdict.problem) {
    case certs::CertProblem::kRevoked:
      reason = v1::REASON_CERT_REVOKED;
      break;
    case certs::CertProblem::kExpired:
      reason = v1::REASON_CERT_EXPIRED;
      break;
    case certs::CertProblem::kMalformed:
      reason = v1::REASON_MALFORMED_REQUEST;
      break;
    case certs::CertProblem::kNoIdentity:
      reason = v1::REASON_TLS_IDENTITY_MISSING;
      break;
    default:
      break;
  }
  // Every certificate problem is a failed authentication, a malformed
  // certificate too.
  return Refusal::Of(absl::StatusCode::kUnauthenticated, reason,
                     absl::StrCat(which, ": ", verdict.message));
}

namespace {

// Parses the envelope without trusting it: its claims go into the audit
// record of a refusal even when the caller's certificates do not verify.
void ReadEnvelope(const v1::SignedRequest& request, CheckedRequest* out) {
  out->request_sha256 = certs::Sha256(request.envelope());
  out->envelope_parsed = !request.envelope().empty() &&
                         out->envelope.ParseFromString(request.envelope());
}

}  // namespace

void RequestChecker::ReadUnverified(const v1::SignedRequest& request,
                                    const std::string& tls_peer_pem,
                                    CheckedRequest* out) {
  ReadEnvelope(request, out);
  if (tls_peer_pem.empty()) return;
  auto cert = certs::ParseCertificatePem(tls_peer_pem);
  if (!cert.ok()) return;
  out->tls_cert_fingerprint = certs::CertificateFingerprint(cert->get());
  auto principal = certs::PrincipalOf(cert->get());
  if (principal.ok() && principal->kind == certs::PrincipalKind::kAgency) {
    out->tls_agency = principal->id;
  }
}

Refusal RequestChecker::RecheckCertificates(
    const v1::SignedRequest& request, const std::string& tls_peer_pem) const {
  if (!tls_peer_pem.empty()) {
    certs::CertVerdict tls = trust_->VerifyPem(tls_peer_pem);
    if (!tls.ok()) return CertRefusal(tls, "TLS client certificate");
  }
  certs::CertVerdict signer = trust_->VerifyDer(request.signer_certificate());
  if (!signer.ok()) return CertRefusal(signer, "signer certificate");
  return Refusal();
}

Refusal RequestChecker::Check(const v1::SignedRequest& request,
                              const std::string& tls_peer_pem,
                              CheckedRequest* out) const {
  ReadEnvelope(request, out);

  // 0. A peer platform's gateway forwarding a consumer's request (a hop):
  // the consumer is known by its signature alone.
  if (hops_ != nullptr && !tls_peer_pem.empty()) {
    absl::StatusOr<Hop> hop = hops_->IdentifyHop(tls_peer_pem);
    if (hop.ok()) {
      auto tls = certs::ParseCertificatePem(tls_peer_pem);
      if (tls.ok()) {
        out->tls_cert_fingerprint = certs::CertificateFingerprint(tls->get());
      }
      return CheckForwarded(request, *hop, out);
    }
  }

  // 1. The TLS client must be an agency (gRPC already verified the chain;
  // the trust store adds the CRL and the identity).
  if (tls_peer_pem.empty()) {
    return Refusal::For(v1::REASON_TLS_IDENTITY_MISSING,
                        "no TLS client certificate; connect with your agency's "
                        "TLS certificate (mutual TLS)");
  }
  certs::CertVerdict tls = trust_->VerifyPem(tls_peer_pem);
  if (!tls.ok()) {
    out->tls_cert_fingerprint = tls.claimed_fingerprint;
    if (tls.claimed && tls.claimed->kind == certs::PrincipalKind::kAgency) {
      out->tls_agency = tls.claimed->id;
    }
    return CertRefusal(tls, "TLS client certificate");
  }
  out->tls_cert_fingerprint = tls.cert->fingerprint;
  if (tls.cert->principal.kind != certs::PrincipalKind::kAgency) {
    return Refusal::For(v1::REASON_TLS_IDENTITY_MISSING,
                        absl::StrCat("TLS client certificate names ",
                                     certs::ActorName(tls.cert->principal),
                                     ", not an agency (it must carry URI "
                                     "urn:dx:agency:<CODE>)"));
  }
  out->tls_agency = tls.cert->principal.id;

  // 2. The envelope, as the exact bytes that were signed.
  if (!out->envelope_parsed) {
    return Refusal::For(v1::REASON_MALFORMED_REQUEST,
                        "SignedRequest.envelope is empty or not a serialized "
                        "dx.v1.RequestEnvelope");
  }
  const v1::RequestEnvelope& env = out->envelope;
  if (env.consumer_agency() != out->tls_agency) {
    return Refusal::For(
        v1::REASON_IDENTITY_MISMATCH,
        // The claim is named with every letter past ASCII written out: a
        // look-alike code must not read as the agency in this message.
        absl::StrCat(
            "envelope consumer_agency '", VisibleCode(env.consumer_agency()),
            "' is not the TLS client's agency '", out->tls_agency, "'"));
  }

  // 3. The signer certificate and the signature.
  if (request.signer_certificate().empty() || request.signature().empty()) {
    return Refusal::For(v1::REASON_BAD_SIGNATURE,
                        "SignedRequest needs signature and signer_certificate "
                        "(DER) set");
  }
  certs::CertVerdict signer = trust_->VerifyDer(request.signer_certificate());
  if (!signer.ok()) {
    out->signer_fingerprint = signer.claimed_fingerprint;
    return CertRefusal(signer, "signer certificate");
  }
  out->signer_fingerprint = signer.cert->fingerprint;
  if (signer.cert->principal.kind != certs::PrincipalKind::kAgency ||
      signer.cert->principal.id != env.consumer_agency()) {
    return Refusal::For(v1::REASON_IDENTITY_MISMATCH,
                        absl::StrCat("signer certificate belongs to '",
                                     signer.cert->principal.id,
                                     "', not to the consumer agency '",
                                     env.consumer_agency(), "'"));
  }
  if (!signer.cert->verifier->Verify(request.envelope(), request.signature())) {
    return Refusal::For(
        v1::REASON_BAD_SIGNATURE,
        "signature does not verify over the envelope bytes with "
        "the signer certificate's key (ECDSA P-256, SHA-256, DER)");
  }
  out->identity_verified = true;

  // 4. Field checks, freshness.
  if (Refusal r = CheckEnvelopeFields(env); r.refused()) return r;
  return CheckFreshness(env);
}

Refusal RequestChecker::CheckForwarded(const v1::SignedRequest& request,
                                       const Hop& hop,
                                       CheckedRequest* out) const {
  out->via_platform = hop.platform_id;
  out->via_gateway = hop.gateway_node;
  if (!out->envelope_parsed) {
    return Refusal::For(v1::REASON_MALFORMED_REQUEST,
                        "SignedRequest.envelope is empty or not a serialized "
                        "dx.v1.RequestEnvelope");
  }
  const v1::RequestEnvelope& env = out->envelope;
  if (request.signer_certificate().empty() || request.signature().empty()) {
    return Refusal::For(v1::REASON_BAD_SIGNATURE,
                        "SignedRequest needs signature and signer_certificate "
                        "(DER) set");
  }
  auto cert = certs::ParseCertificateDer(request.signer_certificate());
  if (cert.ok()) {
    out->signer_fingerprint = certs::CertificateFingerprint(cert->get());
  }
  absl::StatusOr<certs::PkeyPtr> key = hops_->VerifyForwardedConsumer(
      env.consumer_agency(), request.signer_certificate());
  if (!key.ok()) {
    return Refusal::For(v1::REASON_IDENTITY_MISMATCH,
                        absl::StrCat("forwarded by platform ", hop.platform_id,
                                     ": ", key.status().message()));
  }
  if (!certs::VerifySignature(key->get(), request.envelope(),
                              request.signature())) {
    return Refusal::For(
        v1::REASON_BAD_SIGNATURE,
        absl::StrCat("forwarded by platform ", hop.platform_id,
                     ": the consumer's signature does not verify over the "
                     "envelope bytes (were they altered in transit?)"));
  }
  out->identity_verified = true;
  if (Refusal r = CheckEnvelopeFields(env); r.refused()) return r;
  return CheckFreshness(env);
}

Refusal RequestChecker::CheckEnvelopeFields(
    const v1::RequestEnvelope& env) const {
  auto bad = [](std::string m) {
    return Refusal::For(v1::REASON_MALFORMED_REQUEST, std::move(m));
  };
  if (env.request_id().empty() || env.request_id().size() > 128 ||
      !IsPrintableAscii(env.request_id())) {
    return bad("request_id must be 1-128 printable ASCII characters");
  }
  if (env.nonce().size() < 16 || env.nonce().size() > 64) {
    return bad(absl::StrCat("nonce must be 16 to 64 random bytes, got ",
                            env.nonce().size()));
  }
  if (env.dataset_id().empty()) return bad("dataset_id must be set");
  if (env.operation() != v1::OPERATION_READ) {
    return bad("operation must be OPERATION_READ (the only one supported)");
  }
  if (env.purpose_code().empty()) {
    return bad("purpose_code must be set: say why the data is needed");
  }
  if (static_cast<size_t>(env.fields_size()) > options_.max_fields) {
    return bad(absl::StrCat("too many fields (", env.fields_size(),
                            "); at most ", options_.max_fields));
  }
  if (!env.has_issued_at() || !env.has_expires_at()) {
    return bad("issued_at and expires_at must be set");
  }
  // An identifier (citizen id, tax code, ...), not free text: it is hashed
  // into the audit log's subject index and passed to the adapter.
  if (env.data_subject_id().size() > 64 ||
      !std::all_of(env.data_subject_id().begin(), env.data_subject_id().end(),
                   [](char c) {
                     return absl::ascii_isalnum(c) || c == '-' || c == '.' ||
                            c == ':' || c == '_' || c == '/';
                   })) {
    return bad(
        "data_subject_id must be at most 64 characters of A-Z, a-z, 0-9 and "
        "- . : _ / (a citizen id, a tax code, ...)");
  }
  if (env.consent_reference().size() > 256) {
    return bad("consent_reference must be at most 256 bytes");
  }
  return Refusal();
}

Refusal RequestChecker::CheckFreshness(const v1::RequestEnvelope& env) const {
  const absl::Time now = clock_->Now();
  const absl::Time issued = ToTime(env.issued_at());
  const absl::Time expires = ToTime(env.expires_at());
  if (absl::AbsDuration(now - issued) > options_.clock_skew) {
    return Refusal::For(
        v1::REASON_STALE_REQUEST,
        absl::StrCat("issued_at ", absl::FormatTime(issued), " is more than ",
                     absl::FormatDuration(options_.clock_skew),
                     " from the gateway's clock ", absl::FormatTime(now),
                     "; check your system clock (NTP)"));
  }
  if (expires <= now) {
    return Refusal::For(v1::REASON_EXPIRED_REQUEST,
                        "expires_at has passed; send a new request");
  }
  if (expires - issued > options_.max_lifetime) {
    return Refusal::For(
        v1::REASON_EXPIRED_REQUEST,
        absl::StrCat("expires_at is more than ",
                     absl::FormatDuration(options_.max_lifetime),
                     " after issued_at"));
  }
  return Refusal();
}

}  // namespace dx::gateway
