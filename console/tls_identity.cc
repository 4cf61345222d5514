#include "console/tls_identity.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "common/bytes.h"

namespace dx::console {

struct TlsIdentity::Pair {
  certs::X509Ptr leaf;
  STACK_OF(X509) * chain = nullptr;  // the certificates after the leaf
  certs::PkeyPtr key;
  std::string leaf_sha256;
  ~Pair() { sk_X509_pop_free(chain, X509_free); }
};

TlsIdentity::TlsIdentity() = default;
TlsIdentity::~TlsIdentity() = default;

absl::Status TlsIdentity::Set(absl::string_view chain_pem,
                              absl::string_view key_pem,
                              absl::string_view source) {
  auto pair = std::make_shared<Pair>();
  pair->chain = sk_X509_new_null();
  BIO* bio =
      BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (pair->leaf == nullptr) {
      pair->leaf.reset(cert);
    } else {
      sk_X509_push(pair->chain, cert);
    }
  }
  BIO_free(bio);
  ERR_clear_error();  // the read past the last certificate
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  pair->key.reset(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ERR_clear_error();
  if (pair->leaf == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no PEM certificate for the console"));
  }
  if (pair->key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no PEM private key for the console"));
  }
  if (X509_check_private_key(pair->leaf.get(), pair->key.get()) != 1) {
    ERR_clear_error();  // nothing left for this thread's next OpenSSL call
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the key is not the certificate's"));
  }
  pair->leaf_sha256 =
      HexEncode(certs::CertificateFingerprint(pair->leaf.get()));
  absl::MutexLock lock(&mu_);
  pair_ = std::move(pair);
  return absl::OkStatus();
}

void TlsIdentity::InstallOn(SSL_CTX* ctx) {
  SSL_CTX_set_cert_cb(ctx, &TlsIdentity::OnHandshake, this);
}

std::string TlsIdentity::LeafSha256() const {
  absl::MutexLock lock(&mu_);
  return pair_ == nullptr ? std::string() : pair_->leaf_sha256;
}

int TlsIdentity::OnHandshake(SSL* ssl, void* self) {
  std::shared_ptr<const Pair> pair;
  {
    auto* identity = static_cast<TlsIdentity*>(self);
    absl::MutexLock lock(&identity->mu_);
    pair = identity->pair_;
  }
  if (pair == nullptr) return 0;  // no certificate: the handshake fails
  // The SSL object takes its own references: a later Set frees nothing
  // that a handshake under way still uses.
  return SSL_use_cert_and_key(ssl, pair->leaf.get(), pair->key.get(),
                              pair->chain, /*override=*/1) == 1
             ? 1
             : 0;
}

}  // namespace dx::console
