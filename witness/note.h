// C2SP signed notes (c2sp.org/signed-note): a UTF-8 text ending in a
// newline, a blank line, and signature lines "— <key name> base64(key ID ||
// signature)". This file holds the format only (parse, format, key IDs,
// verification against configured keys); the key types live in keys.h.
// Parsing is strict because notes come from peers we do not control: the
// spec's MUSTs (UTF-8, no control characters but newline, key names without
// spaces or '+') and bounds of our own on size and signature count. Pure
// functions; thread-safe.
#ifndef DX_WITNESS_NOTE_H_
#define DX_WITNESS_NOTE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dx::witness {

// Signature type bytes (signed-note "Signature types").
inline constexpr uint8_t kSignatureTypeEcdsa = 0x02;
inline constexpr uint8_t kSignatureTypeCosignatureV1 = 0x04;  // Ed25519

// The spec asks verifiers to accept at least 16 signatures and to bound
// the count; 64 leaves room for many witnesses. 64 KiB bounds the whole note
// (a checkpoint with 64 ECDSA signatures is under 8 KiB).
inline constexpr size_t kMaxNoteSignatures = 64;
inline constexpr size_t kMaxNoteBytes = 64 * 1024;

// One signature line, decoded.
struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  std::string signature;  // the bytes after the 4-byte key ID
};

struct Note {
  std::string text;  // ends in '\n'; excludes the separating blank line
  std::vector<NoteSignature> signatures;
};

// Key names: non-empty, valid UTF-8, no Unicode spaces, no '+', no
// control characters.
absl::Status CheckKeyName(absl::string_view name);

// Parses a signed note without verifying it. InvalidArgument, naming the
// fault, for anything the spec forbids or past our bounds.
absl::StatusOr<Note> ParseNote(absl::string_view note);

// The note text checks alone (UTF-8, control characters, final newline).
absl::Status CheckNoteText(absl::string_view text);

// "— name base64(key_id || signature)\n".
std::string FormatSignatureLine(const NoteSignature& sig);
// text, '\n', then every signature line.
std::string FormatNote(const Note& note);
// Parses signature lines alone (a witness's add-checkpoint response).
absl::StatusOr<std::vector<NoteSignature>> ParseSignatureLines(
    absl::string_view lines);

// SHA-256(name || 0x0A || type || key material)[:4], big-endian: the key
// ID rule of Ed25519 notes and of tlog-cosignature.
uint32_t NameBoundKeyId(absl::string_view name, uint8_t type,
                        absl::string_view key_material);

// Strict standard base64 (RFC 4648 section 4, padded): the decoding must
// re-encode to the same text, so no whitespace, no missing padding.
absl::StatusOr<std::string> StrictBase64Decode(absl::string_view in);

// A key a verifier trusts, identified by (name, key ID).
class NoteVerifier {
 public:
  virtual ~NoteVerifier() = default;
  virtual const std::string& name() const = 0;
  virtual uint32_t key_id() const = 0;
  // True when `signature` (without the key ID) signs `text`.
  virtual bool Verify(absl::string_view text,
                      absl::string_view signature) const = 0;
};

// Verifies `note` against trusted keys, as the spec says: signatures from
// unknown keys (name or ID differing) are ignored; a signature from a known
// key that fails rejects the whole note (PermissionDenied); no verified
// signature from a known key is PermissionDenied too. Returns the verified
// signatures, in note order.
absl::StatusOr<std::vector<NoteSignature>> VerifyNote(
    const Note& note, const std::vector<const NoteVerifier*>& verifiers);

// A verifier key string, "name+hex(key ID)+base64(type || key material)"
// (the vkey form of Go's golang.org/x/mod/sumdb/note, which C2SP's
// verifier keys follow).
struct VerifierKey {
  std::string name;
  uint32_t key_id = 0;
  uint8_t type = 0;
  std::string key_material;
};
std::string FormatVerifierKey(const VerifierKey& key);
absl::StatusOr<VerifierKey> ParseVerifierKey(absl::string_view vkey);

}  // namespace dx::witness

#endif  // DX_WITNESS_NOTE_H_
