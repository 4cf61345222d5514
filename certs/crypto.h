// ECDSA P-256 / SHA-256 signing and verification, SHA-256 and HMAC, with
// keys parsed once and algorithms fetched once (OpenSSL 3's implicit fetches
// and PEM decoding dominate otherwise). Signatures are DER ECDSA-Sig-Value,
// exactly what `openssl dgst -sha256 -sign/-verify` produces and checks.
#ifndef DX_CERTS_CRYPTO_H_
#define DX_CERTS_CRYPTO_H_

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace dx::certs {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct X509Deleter {
  void operator()(X509* cert) const;
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// 32-byte SHA-256 digest of `data`.
std::string Sha256(absl::string_view data);
// 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(absl::string_view key, absl::string_view data);
// `n` cryptographically random bytes.
std::string RandomBytes(size_t n);

// Certificate parsing. PEM input may hold a chain; the first is returned.
absl::StatusOr<X509Ptr> ParseCertificateDer(absl::string_view der);
absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem);
std::string CertificateToDer(X509* cert);
// Every certificate of a PEM bundle, as DER, in order.
absl::StatusOr<std::vector<std::string>> PemBundleToDer(absl::string_view pem);
std::string CertificateToPem(X509* cert);
// The public key of a DER certificate.
absl::StatusOr<PkeyPtr> PublicKeyOfDer(absl::string_view der);
// The certificate's public key as PEM (SubjectPublicKeyInfo), what
// `openssl dgst -verify` takes.
std::string PublicKeyPem(X509* cert);
// SHA-256 of the certificate's DER encoding.
std::string CertificateFingerprint(X509* cert);

// Checks that `key` is an EC key on P-256.
absl::Status CheckP256(EVP_PKEY* key);

// Verifies signatures by one public key. The digest-verify context is set
// up once and copied for each call: OpenSSL 3 otherwise fetches algorithms
// and re-exports the key on every init (~30% slower, measured). Thread-safe
// (the template is only read).
class Verifier {
 public:
  // `key` must be EC P-256; the Verifier keeps its own reference.
  static absl::StatusOr<std::unique_ptr<Verifier>> Create(EVP_PKEY* key);
  ~Verifier();
  // A DER ECDSA/SHA-256 signature over `data`.
  bool Verify(absl::string_view data, absl::string_view signature_der) const;

 private:
  explicit Verifier(EVP_MD_CTX* tmpl) : template_(tmpl) {}
  EVP_MD_CTX* template_;
};

// Signs with the node's private key (the same template trick as
// Verifier). The key can be replaced while it is used (a rotation,
// docs/OPERATIONS.md): each signature is made with one key, and
// SignWithCertificate() names the certificate of that very key, so that a
// verifier picks the right one across a rotation. Thread-safe.
class Signer {
 public:
  // Loads a PEM private key (ECDSA P-256) and its PEM certificate (the first
  // certificate of `cert_pem` must match the key).
  static absl::StatusOr<std::unique_ptr<Signer>> FromPem(
      absl::string_view key_pem, absl::string_view cert_pem);
  static absl::StatusOr<std::unique_ptr<Signer>> FromFiles(
      const std::string& key_file, const std::string& cert_file);
  ~Signer();

  struct Signature {
    std::string der;              // ECDSA over SHA-256(data), DER
    std::string certificate_der;  // of the key that made it
  };
  // DER-encoded ECDSA signature over SHA-256(data).
  absl::StatusOr<std::string> Sign(absl::string_view data) const;
  absl::StatusOr<Signature> SignWithCertificate(absl::string_view data) const;
  // The current key's certificate, DER.
  std::string certificate_der() const;

  // Signs with `next`'s key and certificate from now on (they are shared
  // with `next`). Signatures under way finish with the old key.
  void Replace(Signer&& next);

 private:
  struct Key;
  explicit Signer(std::shared_ptr<const Key> key) : key_(std::move(key)) {}
  std::shared_ptr<const Key> current() const;
  static absl::StatusOr<std::string> SignWith(const Key& key,
                                              absl::string_view data);

  mutable absl::Mutex mu_;
  std::shared_ptr<const Key> key_ ABSL_GUARDED_BY(mu_);
};

// Verifies that the DER certificate `leaf_der` chains through
// `intermediates_der` to one of `roots_der` as of `at` (no CRL: for
// checking old signatures offline), and returns its public key.
absl::StatusOr<PkeyPtr> VerifyChainAt(
    const std::string& leaf_der,
    const std::vector<std::string>& intermediates_der,
    const std::vector<std::string>& roots_der, int64_t at_unix_seconds);

// Verifies a DER ECDSA/SHA-256 signature over `data` with `key`.
bool VerifySignature(EVP_PKEY* key, absl::string_view data,
                     absl::string_view signature_der);

}  // namespace dx::certs

#endif  // DX_CERTS_CRYPTO_H_
