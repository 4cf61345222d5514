#include "certs/trust_store.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::certs {
namespace {

// Bounded so a flood of distinct valid certificates cannot grow memory.
constexpr size_t kMaxCacheEntries = 10000;

CertVerdict Refused(CertProblem problem, std::string message) {
  CertVerdict v;
  v.problem = problem;
  v.message = std::move(message);
  return v;
}

CertVerdict Accepted(std::shared_ptr<const VerifiedCert> cert) {
  CertVerdict v;
  v.cert = std::move(cert);
  return v;
}

int64_t MtimeNanos(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
         st.st_mtim.tv_nsec + static_cast<int64_t>(st.st_size) * 7;
}

absl::Time Asn1ToTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

absl::StatusOr<std::vector<X509Ptr>> ReadPemCerts(const std::string& path) {
  DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  std::vector<X509Ptr> certs;
  while (X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    certs.emplace_back(c);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no PEM certificate found"));
  }
  return certs;
}

}  // namespace

struct TrustStore::State {
  X509_STORE* store = nullptr;
  STACK_OF(X509) * intermediates = nullptr;
  bool crl_check = false;
  uint64_t generation = 0;
  std::vector<int64_t> crl_mtimes;
  ~State() {
    X509_STORE_free(store);
    sk_X509_pop_free(intermediates, X509_free);
  }
};

TrustStore::TrustStore(Options options) : options_(std::move(options)) {}
TrustStore::~TrustStore() = default;

absl::StatusOr<std::unique_ptr<TrustStore>> TrustStore::Create(
    Options options) {
  std::unique_ptr<TrustStore> ts(new TrustStore(std::move(options)));
  DX_ASSIGN_OR_RETURN(auto state, ts->LoadState(1));
  absl::MutexLock lock(&ts->mu_);
  ts->state_ = std::move(state);
  return ts;
}

absl::StatusOr<std::shared_ptr<const TrustStore::State>> TrustStore::LoadState(
    uint64_t generation) {
  auto state = std::make_shared<State>();
  state->generation = generation;
  state->store = X509_STORE_new();
  state->intermediates = sk_X509_new_null();
  DX_ASSIGN_OR_RETURN(auto roots, ReadPemCerts(options_.ca_file));
  for (auto& c : roots) X509_STORE_add_cert(state->store, c.get());
  if (!options_.intermediates_file.empty()) {
    DX_ASSIGN_OR_RETURN(auto inter, ReadPemCerts(options_.intermediates_file));
    for (auto& c : inter) sk_X509_push(state->intermediates, c.release());
  }
  // mtimes are read before the contents: a change racing the read shows up
  // as a changed mtime on the next check.
  for (const auto& path : options_.crl_files) {
    state->crl_mtimes.push_back(MtimeNanos(path));
    DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    int count = 0;
    while (X509_CRL* crl =
               PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(state->store, crl);
      X509_CRL_free(crl);
      ++count;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": no PEM CRL found"));
    }
    state->crl_check = true;
  }
  if (!state->crl_check && options_.require_crl) {
    return absl::InvalidArgumentError(
        "no CRL configured (trust.crl_files) and trust.require_crl is true");
  }
  return std::shared_ptr<const State>(std::move(state));
}

std::shared_ptr<const TrustStore::State> TrustStore::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

uint64_t TrustStore::crl_generation() const { return state()->generation; }

absl::Status TrustStore::ReloadCrlsIfChanged(bool* reloaded) {
  if (reloaded != nullptr) *reloaded = false;
  auto current = state();
  bool changed = false;
  for (size_t i = 0; i < options_.crl_files.size(); ++i) {
    if (MtimeNanos(options_.crl_files[i]) != current->crl_mtimes[i]) {
      changed = true;
    }
  }
  if (!changed) return absl::OkStatus();
  DX_ASSIGN_OR_RETURN(auto next, LoadState(current->generation + 1));
  absl::MutexLock lock(&mu_);
  state_ = std::move(next);
  cache_.clear();  // verdicts were made under the old CRLs
  if (reloaded != nullptr) *reloaded = true;
  return absl::OkStatus();
}

absl::Status TrustStore::Reload() {
  DX_ASSIGN_OR_RETURN(auto next, LoadState(state()->generation + 1));
  absl::MutexLock lock(&mu_);
  state_ = std::move(next);
  cache_.clear();  // verdicts were made under the old anchors
  return absl::OkStatus();
}

std::shared_ptr<const VerifiedCert> TrustStore::Cached(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return nullptr;
  const absl::Time now = options_.clock->Now();
  if (now >= it->second->not_before && now <= it->second->not_after) {
    return it->second;
  }
  cache_.erase(it);  // expired since it was cached: verify again
  return nullptr;
}

CertVerdict TrustStore::VerifyDer(absl::string_view der) {
  std::string key = Sha256(der);
  if (auto hit = Cached(key)) return Accepted(hit);
  auto cert = ParseCertificateDer(der);
  if (!cert.ok()) {
    return Refused(CertProblem::kMalformed,
                   std::string(cert.status().message()));
  }
  return Verify(cert->get(), key);
}

CertVerdict TrustStore::VerifyPem(absl::string_view pem) {
  std::string key = "pem:" + Sha256(pem);
  if (auto hit = Cached(key)) return Accepted(hit);
  auto cert = ParseCertificatePem(pem);
  if (!cert.ok()) {
    return Refused(CertProblem::kMalformed,
                   std::string(cert.status().message()));
  }
  return Verify(cert->get(), key);
}

CertVerdict TrustStore::Verify(X509* cert, const std::string& cache_key) {
  CertVerdict verdict = VerifyChainAndIdentity(cert, cache_key);
  if (!verdict.ok()) {
    auto principal = PrincipalOf(cert);
    if (principal.ok()) verdict.claimed = *std::move(principal);
    verdict.claimed_fingerprint = CertificateFingerprint(cert);
  }
  return verdict;
}

CertVerdict TrustStore::VerifyChainAndIdentity(X509* cert,
                                               const std::string& cache_key) {
  auto st = state();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, st->store, cert, st->intermediates);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(options_.clock->Now()));
  if (st->crl_check) X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK);
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  if (ok != 1) {
    const std::string why = X509_verify_cert_error_string(err);
    switch (err) {
      case X509_V_ERR_CERT_REVOKED:
        return Refused(CertProblem::kRevoked,
                       "certificate is revoked by the CA's current CRL");
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return Refused(
            CertProblem::kExpired,
            absl::StrCat("certificate is outside its validity period (", why,
                         "); renew it"));
      case X509_V_ERR_CRL_HAS_EXPIRED:
      case X509_V_ERR_CRL_NOT_YET_VALID:
      case X509_V_ERR_UNABLE_TO_GET_CRL:
        // Fail closed: without a current CRL nobody can be trusted.
        return Refused(
            CertProblem::kUntrusted,
            absl::StrCat("the gateway has no current CRL for this "
                         "certificate's CA (",
                         why, "); the operator must publish a fresh CRL"));
      default:
        return Refused(CertProblem::kUntrusted,
                       absl::StrCat("certificate does not verify against the "
                                    "gateway's trust anchors: ",
                                    why));
    }
  }
  auto principal = PrincipalOf(cert);
  if (!principal.ok()) {
    return Refused(CertProblem::kNoIdentity,
                   std::string(principal.status().message()));
  }
  if ((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0) {
    return Refused(CertProblem::kNoIdentity,
                   "certificate's key usage does not allow digital signatures");
  }
  auto verified = std::make_shared<VerifiedCert>();
  verified->principal = *principal;
  verified->fingerprint = CertificateFingerprint(cert);
  verified->not_before = Asn1ToTime(X509_get0_notBefore(cert));
  verified->not_after = Asn1ToTime(X509_get0_notAfter(cert));
  verified->public_key.reset(X509_get_pubkey(cert));
  auto verifier = verified->public_key
                      ? Verifier::Create(verified->public_key.get())
                      : absl::InvalidArgumentError("no key");
  if (!verifier.ok()) {
    return Refused(CertProblem::kNoIdentity,
                   "certificate key is not ECDSA P-256");
  }
  verified->verifier = *std::move(verifier);
  absl::MutexLock lock(&mu_);
  // Only cache under the CRLs the verdict was made with.
  if (state_ == st) {
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_[cache_key] = verified;
  }
  return Accepted(std::move(verified));
}

}  // namespace dx::certs
