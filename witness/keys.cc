#include "witness/keys.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace dx::witness {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

}  // namespace

absl::StatusOr<std::string> PublicKeySpki(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return absl::InternalError("cannot encode the public key");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

uint32_t EcdsaKeyId(absl::string_view spki_der) {
  const std::string h = certs::Sha256(spki_der);
  return (uint32_t{static_cast<unsigned char>(h[0])} << 24) |
         (uint32_t{static_cast<unsigned char>(h[1])} << 16) |
         (uint32_t{static_cast<unsigned char>(h[2])} << 8) |
         uint32_t{static_cast<unsigned char>(h[3])};
}

EcdsaNoteVerifier::EcdsaNoteVerifier(std::string name, std::string spki,
                                     std::unique_ptr<certs::Verifier> verifier)
    : name_(std::move(name)),
      spki_(std::move(spki)),
      key_id_(EcdsaKeyId(spki_)),
      verifier_(std::move(verifier)) {}

absl::StatusOr<std::unique_ptr<EcdsaNoteVerifier>> EcdsaNoteVerifier::Create(
    absl::string_view name, EVP_PKEY* key) {
  DX_RETURN_IF_ERROR(CheckKeyName(name));
  DX_RETURN_IF_ERROR(certs::CheckP256(key));
  DX_ASSIGN_OR_RETURN(std::string spki, PublicKeySpki(key));
  DX_ASSIGN_OR_RETURN(std::unique_ptr<certs::Verifier> verifier,
                      certs::Verifier::Create(key));
  return std::unique_ptr<EcdsaNoteVerifier>(new EcdsaNoteVerifier(
      std::string(name), std::move(spki), std::move(verifier)));
}

absl::StatusOr<std::unique_ptr<EcdsaNoteVerifier>>
EcdsaNoteVerifier::FromVerifierKey(absl::string_view vkey) {
  DX_ASSIGN_OR_RETURN(VerifierKey parsed, ParseVerifierKey(vkey));
  if (parsed.type != kSignatureTypeEcdsa) {
    return absl::InvalidArgumentError(
        "the verifier key is not of type 0x02 (ECDSA)");
  }
  const auto* p =
      reinterpret_cast<const unsigned char*>(parsed.key_material.data());
  certs::PkeyPtr key(
      d2i_PUBKEY(nullptr, &p, static_cast<long>(parsed.key_material.size())));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        "the verifier key does not hold a DER SubjectPublicKeyInfo");
  }
  DX_ASSIGN_OR_RETURN(auto verifier, Create(parsed.name, key.get()));
  if (verifier->key_id() != parsed.key_id ||
      verifier->spki_ != parsed.key_material) {
    return absl::InvalidArgumentError(
        "the verifier key's ID does not match its key");
  }
  return verifier;
}

bool EcdsaNoteVerifier::Verify(absl::string_view text,
                               absl::string_view signature) const {
  return verifier_->Verify(text, signature);
}

std::string EcdsaNoteVerifier::VerifierKeyString() const {
  return FormatVerifierKey({name_, key_id_, kSignatureTypeEcdsa, spki_});
}

absl::StatusOr<std::unique_ptr<EcdsaNoteSigner>> EcdsaNoteSigner::Create(
    absl::string_view name, const certs::Signer* signer) {
  DX_RETURN_IF_ERROR(CheckKeyName(name));
  return std::unique_ptr<EcdsaNoteSigner>(
      new EcdsaNoteSigner(std::string(name), signer));
}

absl::StatusOr<NoteSignature> EcdsaNoteSigner::Sign(
    absl::string_view text) const {
  DX_RETURN_IF_ERROR(CheckNoteText(text));
  DX_ASSIGN_OR_RETURN(certs::Signer::Signature sig,
                      signer_->SignWithCertificate(text));
  DX_ASSIGN_OR_RETURN(certs::PkeyPtr key,
                      certs::PublicKeyOfDer(sig.certificate_der));
  DX_ASSIGN_OR_RETURN(std::string spki, PublicKeySpki(key.get()));
  return NoteSignature{name_, EcdsaKeyId(spki), std::move(sig.der)};
}

absl::StatusOr<std::unique_ptr<Ed25519Key>> Ed25519Key::Generate() {
  certs::PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (key == nullptr) return absl::InternalError("Ed25519 keygen failed");
  std::string pub(32, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(
          key.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 ||
      len != 32) {
    return absl::InternalError("cannot read the Ed25519 public key");
  }
  return std::unique_ptr<Ed25519Key>(
      new Ed25519Key(std::move(key), std::move(pub)));
}

absl::StatusOr<std::unique_ptr<Ed25519Key>> Ed25519Key::FromPrivatePem(
    absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  certs::PkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (key == nullptr || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        "the witness key is not a PEM Ed25519 private key; make one with "
        "'openssl genpkey -algorithm ed25519'");
  }
  std::string pub(32, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(
          key.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 ||
      len != 32) {
    return absl::InternalError("cannot read the Ed25519 public key");
  }
  return std::unique_ptr<Ed25519Key>(
      new Ed25519Key(std::move(key), std::move(pub)));
}

absl::StatusOr<std::string> Ed25519Key::Sign(absl::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) !=
          1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                     &len,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      len != 64) {
    return absl::InternalError("Ed25519 signing failed");
  }
  return sig;
}

std::string Ed25519Key::PrivatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr,
                           nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, len);
  BIO_free(bio);
  return out;
}

bool VerifyEd25519(absl::string_view public_key, absl::string_view message,
                   absl::string_view signature) {
  if (public_key.size() != 32 || signature.size() != 64) return false;
  certs::PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(public_key.data()), 32));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  return key != nullptr && ctx != nullptr &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                              key.get()) == 1 &&
         EVP_DigestVerify(
             ctx.get(),
             reinterpret_cast<const unsigned char*>(signature.data()), 64,
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size()) == 1;
}

}  // namespace dx::witness
