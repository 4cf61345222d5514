// RequestChecker: everything that decides whether a signed request is
// authentic and fresh, before any policy is asked:
//   envelope parses -> TLS client is an agency -> it is the envelope's
//   consumer -> signer certificate verifies (chain, CRL, validity) and names
//   the same agency -> signature verifies over the exact envelope bytes ->
//   issued_at within the clock skew, expires_at not passed.
// Whether it is new is the replay store's (replay/), asked next by the
// exchange pipeline. No I/O; independent of gRPC so each step is
// unit-tested. Thread-safe.
#ifndef DX_GATEWAY_REQUEST_CHECKER_H_
#define DX_GATEWAY_REQUEST_CHECKER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "certs/trust_store.h"
#include "common/clock.h"
#include "dx/v1/errors.pb.h"
#include "dx/v1/exchange.pb.h"
#include "gateway/federation_trust.h"
#include "gateway/refusal.h"

namespace dx::gateway {

// What the checker learned; filled as far as the checks got, so a refusal's
// audit record says as much as is known.
// Until `identity_verified`, the agency, fingerprints and envelope fields
// are only what the request claims: recorded so that an auditor can see who
// tried, never trusted.
struct CheckedRequest {
  v1::RequestEnvelope envelope;
  bool envelope_parsed = false;
  std::string request_sha256;
  // The agency the TLS client certificate names (verified once
  // identity_verified), and that certificate's SHA-256.
  std::string tls_agency;
  std::string tls_cert_fingerprint;
  std::string signer_fingerprint;
  // The TLS certificate, the signer certificate and the signature verified,
  // and all name the envelope's consumer agency. For a forwarded request:
  // the forwarding gateway is a peer platform's, and the signer certificate
  // and the signature verified under the platform that speaks for the
  // consumer agency.
  bool identity_verified = false;
  // A request forwarded by a peer platform's gateway (a hop): that
  // platform and its gateway's node id; empty for a consumer's own call.
  std::string via_platform;
  std::string via_gateway;
};

class RequestChecker {
 public:
  struct Options {
    absl::Duration clock_skew = absl::Minutes(5);
    absl::Duration max_lifetime = absl::Minutes(10);
    size_t max_fields = 1000;
  };
  // `hops`: the federation's trust; null: no request is taken from a peer
  // platform's gateway.
  RequestChecker(Options options, certs::TrustStore* trust, const Clock* clock,
                 const FederationTrust* hops = nullptr)
      : options_(options), trust_(trust), clock_(clock), hops_(hops) {}

  // `tls_peer_pem` is the client's TLS certificate as gRPC reports it
  // (empty when there is none).
  Refusal Check(const v1::SignedRequest& request,
                const std::string& tls_peer_pem, CheckedRequest* out) const;

  // For a request admitted earlier and still being served (a
  // subscription): its TLS client certificate and its signer certificate
  // verify again now (chain, CRL, validity), so that a revocation or an
  // expiry ends what it allowed. Neither the signature nor the freshness
  // is checked again (the request was authentic when it came).
  Refusal RecheckCertificates(const v1::SignedRequest& request,
                              const std::string& tls_peer_pem) const;

  // Only reads what the request claims (envelope, TLS agency), verifying
  // nothing: for a request refused before it is checked (shutting down,
  // not ready), so that its audit record still says who tried.
  static void ReadUnverified(const v1::SignedRequest& request,
                             const std::string& tls_peer_pem,
                             CheckedRequest* out);

 private:
  // A request whose TLS client is a peer platform's gateway `hop`.
  Refusal CheckForwarded(const v1::SignedRequest& request, const Hop& hop,
                         CheckedRequest* out) const;
  Refusal CheckEnvelopeFields(const v1::RequestEnvelope& env) const;
  Refusal CheckFreshness(const v1::RequestEnvelope& env) const;

  const Options options_;
  certs::TrustStore* const trust_;
  const Clock* const clock_;
  const FederationTrust* const hops_;
};

// Maps a certificate problem to a refusal.
Refusal CertRefusal(const certs::CertVerdict& verdict, const char* which);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REQUEST_CHECKER_H_
