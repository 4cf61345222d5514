#include "certs/crypto.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::certs {
namespace {

// Fetched once: OpenSSL 3 otherwise looks the algorithm up on every call.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// One reusable context per thread for each use.
EVP_MD_CTX* ThreadSignCtx() {
  thread_local MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx.get();
}
EVP_MD_CTX* ThreadVerifyCtx() {
  thread_local MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx.get();
}

}  // namespace

void PkeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
void X509Deleter::operator()(X509* cert) const { X509_free(cert); }

std::string Sha256(absl::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(),
             reinterpret_cast<unsigned char*>(&out[0]), &len, Sha256Md(),
             nullptr);
  return out;
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  HMAC(Sha256Md(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(&out[0]), &len);
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(&out[0]), static_cast<int>(n));
  return out;
}

absl::StatusOr<X509Ptr> ParseCertificateDer(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr ||
      p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(cert);
    return absl::InvalidArgumentError(
        "certificate is not a single DER-encoded X.509 certificate");
  }
  return X509Ptr(cert);
}

absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) {
    return absl::InvalidArgumentError("no PEM certificate found");
  }
  return X509Ptr(cert);
}

std::string CertificateToDer(X509* cert) {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(cert, &buf);
  if (len <= 0) return "";
  std::string der(reinterpret_cast<char*>(buf), len);
  OPENSSL_free(buf);
  return der;
}

absl::StatusOr<std::vector<std::string>> PemBundleToDer(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<std::string> out;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.push_back(CertificateToDer(c));
    X509_free(c);
  }
  ERR_clear_error();
  if (out.empty())
    return absl::InvalidArgumentError("no PEM certificate found");
  return out;
}

std::string CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

absl::StatusOr<PkeyPtr> PublicKeyOfDer(absl::string_view der) {
  DX_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificateDer(der));
  return PkeyPtr(X509_get_pubkey(cert.get()));
}

std::string PublicKeyPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), X509_get0_pubkey(cert));
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string CertificateFingerprint(X509* cert) {
  return Sha256(CertificateToDer(cert));
}

absl::Status CheckP256(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return absl::InvalidArgumentError("key is not an EC key (need P-256)");
  }
  char group[64] = {0};
  size_t len = 0;
  if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                      sizeof(group), &len) ||
      std::string(group) != "prime256v1") {
    return absl::InvalidArgumentError(
        absl::StrCat("EC key is on curve '", group, "', need P-256"));
  }
  return absl::OkStatus();
}

struct Signer::Key {
  Key(PkeyPtr k, std::string der, EVP_MD_CTX* t)
      : pkey(std::move(k)), cert_der(std::move(der)), tmpl(t) {}
  ~Key() { EVP_MD_CTX_free(tmpl); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  PkeyPtr pkey;
  std::string cert_der;
  EVP_MD_CTX* tmpl;
};

absl::StatusOr<std::unique_ptr<Signer>> Signer::FromPem(
    absl::string_view key_pem, absl::string_view cert_pem) {
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError("no PEM private key found");
  DX_RETURN_IF_ERROR(CheckP256(key.get()));
  DX_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        "the private key does not match the certificate");
  }
  EVP_MD_CTX* tmpl = EVP_MD_CTX_new();
  if (EVP_DigestSignInit(tmpl, nullptr, Sha256Md(), nullptr, key.get()) != 1) {
    EVP_MD_CTX_free(tmpl);
    return absl::InternalError("cannot set up ECDSA signing");
  }
  return std::unique_ptr<Signer>(new Signer(std::make_shared<const Key>(
      std::move(key), CertificateToDer(cert.get()), tmpl)));
}

Signer::~Signer() = default;

std::shared_ptr<const Signer::Key> Signer::current() const {
  absl::MutexLock lock(&mu_);
  return key_;
}

std::string Signer::certificate_der() const { return current()->cert_der; }

void Signer::Replace(Signer&& next) {
  std::shared_ptr<const Key> key = next.current();
  absl::MutexLock lock(&mu_);
  key_ = std::move(key);
}

absl::StatusOr<std::unique_ptr<Verifier>> Verifier::Create(EVP_PKEY* key) {
  DX_RETURN_IF_ERROR(CheckP256(key));
  EVP_MD_CTX* tmpl = EVP_MD_CTX_new();
  if (EVP_DigestVerifyInit(tmpl, nullptr, Sha256Md(), nullptr, key) != 1) {
    EVP_MD_CTX_free(tmpl);
    return absl::InternalError("cannot set up ECDSA verification");
  }
  return std::unique_ptr<Verifier>(new Verifier(tmpl));
}

Verifier::~Verifier() { EVP_MD_CTX_free(template_); }

bool Verifier::Verify(absl::string_view data,
                      absl::string_view signature_der) const {
  EVP_MD_CTX* ctx = ThreadVerifyCtx();
  const bool ok =
      EVP_MD_CTX_copy_ex(ctx, template_) == 1 &&
      EVP_DigestVerify(
          ctx, reinterpret_cast<const unsigned char*>(signature_der.data()),
          signature_der.size(),
          reinterpret_cast<const unsigned char*>(data.data()),
          data.size()) == 1;
  EVP_MD_CTX_reset(ctx);
  return ok;
}

absl::StatusOr<std::unique_ptr<Signer>> Signer::FromFiles(
    const std::string& key_file, const std::string& cert_file) {
  DX_ASSIGN_OR_RETURN(std::string key_pem, ReadFile(key_file));
  DX_ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(cert_file));
  auto signer = FromPem(key_pem, cert_pem);
  if (!signer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        key_file, " / ", cert_file, ": ", signer.status().message()));
  }
  return signer;
}

absl::StatusOr<std::string> Signer::Sign(absl::string_view data) const {
  return SignWith(*current(), data);
}

absl::StatusOr<Signer::Signature> Signer::SignWithCertificate(
    absl::string_view data) const {
  std::shared_ptr<const Key> key = current();
  DX_ASSIGN_OR_RETURN(std::string der, SignWith(*key, data));
  return Signature{std::move(der), key->cert_der};
}

absl::StatusOr<std::string> Signer::SignWith(const Key& key,
                                             absl::string_view data) {
  EVP_MD_CTX* ctx = ThreadSignCtx();
  size_t len = 0;
  std::string sig(80, '\0');  // a P-256 DER signature is at most 72 bytes
  len = sig.size();
  if (EVP_MD_CTX_copy_ex(ctx, key.tmpl) != 1 ||
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(&sig[0]), &len,
                     reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    EVP_MD_CTX_reset(ctx);
    return absl::InternalError("ECDSA signing failed");
  }
  EVP_MD_CTX_reset(ctx);
  sig.resize(len);
  return sig;
}

absl::StatusOr<PkeyPtr> VerifyChainAt(
    const std::string& leaf_der,
    const std::vector<std::string>& intermediates_der,
    const std::vector<std::string>& roots_der, int64_t at_unix_seconds) {
  // Owned for the whole function: every early return frees them (a fuzzer
  // found the leak when an intermediate did not parse).
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(
      X509_STORE_new(), &X509_STORE_free);
  struct StackDeleter {  // sk_X509_free is a macro: wrap it
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
  };
  std::unique_ptr<STACK_OF(X509), StackDeleter> untrusted(sk_X509_new_null());
  std::vector<X509Ptr> owned;  // outlives `untrusted`, which only borrows
  DX_ASSIGN_OR_RETURN(X509Ptr leaf, ParseCertificateDer(leaf_der));
  for (const auto& der : roots_der) {
    DX_ASSIGN_OR_RETURN(X509Ptr c, ParseCertificateDer(der));
    X509_STORE_add_cert(store.get(), c.get());
    owned.push_back(std::move(c));
  }
  for (const auto& der : intermediates_der) {
    DX_ASSIGN_OR_RETURN(X509Ptr c, ParseCertificateDer(der));
    sk_X509_push(untrusted.get(), c.get());
    owned.push_back(std::move(c));
  }
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(
      X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get());
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             at_unix_seconds);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok != 1) {
    return absl::UnauthenticatedError(
        absl::StrCat("certificate does not chain to the given root: ",
                     X509_verify_cert_error_string(err)));
  }
  return PkeyPtr(X509_get_pubkey(leaf.get()));
}

bool VerifySignature(EVP_PKEY* key, absl::string_view data,
                     absl::string_view signature_der) {
  EVP_MD_CTX* ctx = ThreadVerifyCtx();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, Sha256Md(), nullptr, key) == 1 &&
      EVP_DigestVerify(
          ctx, reinterpret_cast<const unsigned char*>(signature_der.data()),
          signature_der.size(),
          reinterpret_cast<const unsigned char*>(data.data()),
          data.size()) == 1;
  EVP_MD_CTX_reset(ctx);
  return ok;
}

}  // namespace dx::certs
