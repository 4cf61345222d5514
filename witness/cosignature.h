// C2SP cosignatures (c2sp.org/tlog-cosignature), the Ed25519 "cosignature/v1"
// type 0x04: a witness signs "cosignature/v1\ntime <T>\n" followed by the
// checkpoint's note text, and the note signature is the 8-byte big-endian
// timestamp followed by the 64-byte Ed25519 signature. Its key ID binds the
// witness's name: SHA-256(name || "\n" || 0x04 || public key)[:4].
// Immutable after Create; thread-safe.
#ifndef DX_WITNESS_COSIGNATURE_H_
#define DX_WITNESS_COSIGNATURE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "witness/keys.h"
#include "witness/note.h"

namespace dx::witness {

// The signed message for `checkpoint_text` (the note text, final newline
// included, no signature lines) at POSIX time `timestamp`.
std::string CosignedMessage(absl::string_view checkpoint_text,
                            uint64_t timestamp);

// A witness's signing side.
class Cosigner final {
 public:
  static absl::StatusOr<std::unique_ptr<Cosigner>> Create(
      absl::string_view name, std::unique_ptr<Ed25519Key> key);
  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  const std::string& public_key() const { return key_->public_key(); }
  // "name+keyid+base64(0x04 || public key)", what log clients configure.
  std::string VerifierKeyString() const;
  // The cosignature of `checkpoint_text` at `timestamp` (seconds).
  absl::StatusOr<NoteSignature> Cosign(absl::string_view checkpoint_text,
                                       uint64_t timestamp) const;

 private:
  Cosigner(std::string name, std::unique_ptr<Ed25519Key> key);
  std::string name_;
  std::unique_ptr<Ed25519Key> key_;
  uint32_t key_id_;
};

// Verifies cosignatures of one witness (a NoteVerifier, so VerifyNote takes
// it beside the log's key).
class CosignatureVerifier final : public NoteVerifier {
 public:
  static absl::StatusOr<std::unique_ptr<CosignatureVerifier>> Create(
      absl::string_view name, absl::string_view public_key);
  // From a vkey string of type 0x04 (checks the key ID it carries).
  static absl::StatusOr<std::unique_ptr<CosignatureVerifier>> FromVerifierKey(
      absl::string_view vkey);
  const std::string& name() const override { return name_; }
  uint32_t key_id() const override { return key_id_; }
  bool Verify(absl::string_view text,
              absl::string_view signature) const override;
  // The timestamp a valid-length cosignature carries (72 bytes), or
  // InvalidArgument.
  static absl::StatusOr<uint64_t> Timestamp(absl::string_view signature);

 private:
  CosignatureVerifier(std::string name, std::string public_key);
  std::string name_;
  std::string public_key_;
  uint32_t key_id_;
};

}  // namespace dx::witness

#endif  // DX_WITNESS_COSIGNATURE_H_
