// TrustStore: verifies certificates against the configured trust anchors,
// intermediates and CRLs, and caches positive results (chain verification is
// far costlier than a cache look-up). CRL files are re-read when they change
// (ReloadCrlsIfChanged), which clears the cache, so a revocation takes effect
// without a restart. Thread-safe.
#ifndef DX_CERTS_TRUST_STORE_H_
#define DX_CERTS_TRUST_STORE_H_

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "common/clock.h"

namespace dx::certs {

enum class CertProblem {
  kNone,
  kMalformed,   // not a certificate
  kUntrusted,   // no chain to a trust anchor, or unusable
  kRevoked,     // listed in a CRL
  kExpired,     // outside its validity period
  kNoIdentity,  // no (or an invalid) dx identity, or not a P-256 key
};

// A certificate that verified. Immutable; shared between cache and callers.
struct VerifiedCert {
  Principal principal;
  std::string fingerprint;  // SHA-256 of the DER
  absl::Time not_before;
  absl::Time not_after;
  PkeyPtr public_key;
  // Verifies signatures by this certificate's key (set up once).
  std::unique_ptr<Verifier> verifier;
};

struct CertVerdict {
  CertProblem problem = CertProblem::kNone;
  std::string message;
  std::shared_ptr<const VerifiedCert> cert;  // set when problem == kNone
  // When refused but parsed: what the certificate claims, unverified, so
  // that the refusal's audit record can say who tried (never trust it).
  std::optional<Principal> claimed;
  std::string claimed_fingerprint;  // SHA-256 of the DER
  bool ok() const { return problem == CertProblem::kNone; }
};

class TrustStore {
 public:
  struct Options {
    std::string ca_file;             // PEM trust anchors
    std::string intermediates_file;  // PEM intermediates (may be empty)
    std::vector<std::string> crl_files;
    // With no CRL loaded, refuse everything (fail closed).
    bool require_crl = true;
    const Clock* clock = SystemClock::Get();
  };

  static absl::StatusOr<std::unique_ptr<TrustStore>> Create(Options options);
  ~TrustStore();

  // Verifies a DER certificate (a signer certificate from a request).
  CertVerdict VerifyDer(absl::string_view der);
  // Verifies a PEM certificate (the TLS peer certificate gRPC reports).
  CertVerdict VerifyPem(absl::string_view pem);

  // Re-reads the CRL files if any changed since the last load. On a parse
  // error the previous CRLs stay in force and the error is returned.
  absl::Status ReloadCrlsIfChanged(bool* reloaded = nullptr);
  // Re-reads every file: trust anchors, intermediates and CRLs (a rotation
  // of the CA or its intermediates). On any error the old ones stay in
  // force and the error is returned.
  absl::Status Reload();
  // Increases each time new CRLs take effect.
  uint64_t crl_generation() const;

 private:
  struct State;
  explicit TrustStore(Options options);
  absl::StatusOr<std::shared_ptr<const State>> LoadState(uint64_t generation);
  CertVerdict Verify(X509* cert, const std::string& cache_key);
  CertVerdict VerifyChainAndIdentity(X509* cert, const std::string& cache_key);
  // A cached verdict still within the certificate's validity, or null.
  std::shared_ptr<const VerifiedCert> Cached(const std::string& key);
  std::shared_ptr<const State> state() const;

  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const State> state_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const VerifiedCert>> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::certs

#endif  // DX_CERTS_TRUST_STORE_H_
