// The two key types our notes use. Logs sign checkpoints with their ECDSA
// P-256 log key (signature type 0x02, the key ID being SHA-256 of the
// public key's DER SubjectPublicKeyInfo, truncated to 4 bytes, as
// signed-note assigns it; the signature is DER ECDSA over SHA-256 of the
// note text). Witnesses cosign with Ed25519 (tlog-cosignature's type 0x04):
// tlog-cosignature defines no ECDSA cosignature, and a cosignature that
// other witness networks can check matters more than reusing our P-256
// keys; a witness signs once per checkpoint, so Ed25519's cost is no
// concern. Every class here is immutable after Create and thread-safe.
#ifndef DX_WITNESS_KEYS_H_
#define DX_WITNESS_KEYS_H_

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/crypto.h"
#include "witness/note.h"

namespace dx::witness {

// DER SubjectPublicKeyInfo of `key`'s public part.
absl::StatusOr<std::string> PublicKeySpki(EVP_PKEY* key);
// The type 0x02 key ID: SHA-256(SPKI DER)[:4].
uint32_t EcdsaKeyId(absl::string_view spki_der);

// Verifies a log's ECDSA P-256 checkpoint signatures.
class EcdsaNoteVerifier final : public NoteVerifier {
 public:
  // `key` must be an EC P-256 public key; the verifier keeps its own.
  static absl::StatusOr<std::unique_ptr<EcdsaNoteVerifier>> Create(
      absl::string_view name, EVP_PKEY* key);
  // From a vkey string of type 0x02 (checks the key ID it carries).
  static absl::StatusOr<std::unique_ptr<EcdsaNoteVerifier>> FromVerifierKey(
      absl::string_view vkey);
  const std::string& name() const override { return name_; }
  uint32_t key_id() const override { return key_id_; }
  bool Verify(absl::string_view text,
              absl::string_view signature) const override;
  // "name+keyid+base64(0x02 || SPKI)".
  std::string VerifierKeyString() const;

 private:
  EcdsaNoteVerifier(std::string name, std::string spki,
                    std::unique_ptr<certs::Verifier> verifier);
  std::string name_;
  std::string spki_;
  uint32_t key_id_;
  std::unique_ptr<certs::Verifier> verifier_;
};

// Signs notes with the node's log key (certs::Signer). The key ID is
// computed from the certificate of the key that made each signature, so a
// rotation under way never pairs a new signature with the old key's ID.
class EcdsaNoteSigner final {
 public:
  // `signer` is not owned and must outlive this object.
  static absl::StatusOr<std::unique_ptr<EcdsaNoteSigner>> Create(
      absl::string_view name, const certs::Signer* signer);
  const std::string& name() const { return name_; }
  absl::StatusOr<NoteSignature> Sign(absl::string_view text) const;

 private:
  EcdsaNoteSigner(std::string name, const certs::Signer* signer)
      : name_(std::move(name)), signer_(signer) {}
  std::string name_;
  const certs::Signer* signer_;
};

// An Ed25519 key pair.
class Ed25519Key final {
 public:
  static absl::StatusOr<std::unique_ptr<Ed25519Key>> Generate();
  // PKCS#8 PEM private key (what `openssl genpkey -algorithm ed25519`
  // writes).
  static absl::StatusOr<std::unique_ptr<Ed25519Key>> FromPrivatePem(
      absl::string_view pem);
  const std::string& public_key() const { return public_key_; }  // 32 bytes
  absl::StatusOr<std::string> Sign(absl::string_view message) const;  // 64
  std::string PrivatePem() const;

 private:
  Ed25519Key(certs::PkeyPtr key, std::string pub)
      : key_(std::move(key)), public_key_(std::move(pub)) {}
  certs::PkeyPtr key_;
  std::string public_key_;
};

// Verifies an Ed25519 signature with a raw 32-byte public key.
bool VerifyEd25519(absl::string_view public_key, absl::string_view message,
                   absl::string_view signature);

}  // namespace dx::witness

#endif  // DX_WITNESS_KEYS_H_
