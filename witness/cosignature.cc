#include "witness/cosignature.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/status_macros.h"

namespace dx::witness {

std::string CosignedMessage(absl::string_view checkpoint_text,
                            uint64_t timestamp) {
  return absl::StrCat("cosignature/v1\ntime ", timestamp, "\n",
                      checkpoint_text);
}

Cosigner::Cosigner(std::string name, std::unique_ptr<Ed25519Key> key)
    : name_(std::move(name)),
      key_(std::move(key)),
      key_id_(NameBoundKeyId(name_, kSignatureTypeCosignatureV1,
                             key_->public_key())) {}

absl::StatusOr<std::unique_ptr<Cosigner>> Cosigner::Create(
    absl::string_view name, std::unique_ptr<Ed25519Key> key) {
  DX_RETURN_IF_ERROR(CheckKeyName(name));
  if (key == nullptr) return absl::InvalidArgumentError("no witness key");
  return std::unique_ptr<Cosigner>(
      new Cosigner(std::string(name), std::move(key)));
}

std::string Cosigner::VerifierKeyString() const {
  return FormatVerifierKey(
      {name_, key_id_, kSignatureTypeCosignatureV1, key_->public_key()});
}

absl::StatusOr<NoteSignature> Cosigner::Cosign(
    absl::string_view checkpoint_text, uint64_t timestamp) const {
  if (timestamp > uint64_t{0x7FFFFFFFFFFFFFFF}) {
    return absl::InvalidArgumentError("a cosignature time must be < 2^63");
  }
  DX_RETURN_IF_ERROR(CheckNoteText(checkpoint_text));
  DX_ASSIGN_OR_RETURN(std::string sig,
                      key_->Sign(CosignedMessage(checkpoint_text, timestamp)));
  return NoteSignature{name_, key_id_,
                       ::dx::EncodeBigEndian64(timestamp) + sig};
}

CosignatureVerifier::CosignatureVerifier(std::string name,
                                         std::string public_key)
    : name_(std::move(name)),
      public_key_(std::move(public_key)),
      key_id_(NameBoundKeyId(name_, kSignatureTypeCosignatureV1, public_key_)) {
}

absl::StatusOr<std::unique_ptr<CosignatureVerifier>>
CosignatureVerifier::Create(absl::string_view name,
                            absl::string_view public_key) {
  DX_RETURN_IF_ERROR(CheckKeyName(name));
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(
        "a cosigner's Ed25519 public key is 32 bytes");
  }
  return std::unique_ptr<CosignatureVerifier>(
      new CosignatureVerifier(std::string(name), std::string(public_key)));
}

absl::StatusOr<std::unique_ptr<CosignatureVerifier>>
CosignatureVerifier::FromVerifierKey(absl::string_view vkey) {
  DX_ASSIGN_OR_RETURN(VerifierKey parsed, ParseVerifierKey(vkey));
  if (parsed.type != kSignatureTypeCosignatureV1) {
    return absl::InvalidArgumentError(
        "the verifier key is not of type 0x04 (cosignature/v1)");
  }
  DX_ASSIGN_OR_RETURN(auto verifier, Create(parsed.name, parsed.key_material));
  if (verifier->key_id() != parsed.key_id) {
    return absl::InvalidArgumentError(
        "the verifier key's ID does not match its name and key");
  }
  return verifier;
}

absl::StatusOr<uint64_t> CosignatureVerifier::Timestamp(
    absl::string_view signature) {
  if (signature.size() != 8 + 64) {
    return absl::InvalidArgumentError(
        "a cosignature/v1 signature is 72 bytes: time and Ed25519 signature");
  }
  const uint64_t t = ::dx::DecodeBigEndian64(signature.substr(0, 8));
  if (t > uint64_t{0x7FFFFFFFFFFFFFFF}) {
    return absl::InvalidArgumentError("a cosignature time must be < 2^63");
  }
  return t;
}

bool CosignatureVerifier::Verify(absl::string_view text,
                                 absl::string_view signature) const {
  auto t = Timestamp(signature);
  return t.ok() && VerifyEd25519(public_key_, CosignedMessage(text, *t),
                                 signature.substr(8));
}

}  // namespace dx::witness
