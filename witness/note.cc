#include "witness/note.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "certs/crypto.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace dx::witness {
namespace {

// U+2014 EM DASH, then a space: how every signature line starts.
constexpr absl::string_view kSigPrefix = "\xE2\x80\x94 ";

// The next code point of valid UTF-8 at `s[*i]`; advances *i.
uint32_t NextCodePoint(absl::string_view s, size_t* i) {
  const auto c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  uint32_t cp = len == 1   ? c
                : len == 2 ? (c & 0x1F)
                : len == 3 ? (c & 0x0F)
                           : (c & 0x07);
  for (int k = 1; k < len; ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  }
  *i += len;
  return cp;
}

// Unicode White_Space code points.
bool IsUnicodeSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t BigEndian32(absl::string_view b) {
  return (uint32_t{static_cast<unsigned char>(b[0])} << 24) |
         (uint32_t{static_cast<unsigned char>(b[1])} << 16) |
         (uint32_t{static_cast<unsigned char>(b[2])} << 8) |
         uint32_t{static_cast<unsigned char>(b[3])};
}

std::string EncodeBigEndian32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (24 - 8 * i));
  return out;
}

absl::StatusOr<NoteSignature> ParseSignatureLine(absl::string_view line) {
  if (!absl::StartsWith(line, kSigPrefix)) {
    return absl::InvalidArgumentError(
        "a signature line must start with an em dash (U+2014) and a space");
  }
  line.remove_prefix(kSigPrefix.size());
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "a signature line must be '— <key name> <base64 signature>'");
  }
  NoteSignature sig;
  sig.name = std::string(line.substr(0, space));
  DX_RETURN_IF_ERROR(CheckKeyName(sig.name));
  auto decoded = StrictBase64Decode(line.substr(space + 1));
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the signature of key '", sig.name, "' is not standard padded base64"));
  }
  if (decoded->size() < 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the signature of key '", sig.name,
        "' is too short: a 4-byte key ID and a signature are required"));
  }
  sig.key_id = BigEndian32(*decoded);
  sig.signature = decoded->substr(4);
  return sig;
}

}  // namespace

absl::Status CheckKeyName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("a key name is empty");
  if (!IsValidUtf8(name)) {
    return absl::InvalidArgumentError("a key name is not valid UTF-8");
  }
  size_t i = 0;
  while (i < name.size()) {
    const uint32_t cp = NextCodePoint(name, &i);
    if (cp < 0x20 || cp == 0x7F || IsUnicodeSpace(cp) || cp == '+') {
      return absl::InvalidArgumentError(
          "a key name must not contain spaces, '+' or control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNoteText(absl::string_view text) {
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError("the note is not valid UTF-8");
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the note contains the control character 0x%02x; only newline is "
          "allowed",
          static_cast<unsigned char>(c)));
    }
  }
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("the note must end in a newline");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NoteSignature>> ParseSignatureLines(
    absl::string_view lines) {
  if (lines.empty()) {
    return absl::InvalidArgumentError("the note has no signature line");
  }
  if (lines.back() != '\n') {
    return absl::InvalidArgumentError(
        "the last signature line must end in a newline");
  }
  lines.remove_suffix(1);
  std::vector<NoteSignature> out;
  for (absl::string_view line : absl::StrSplit(lines, '\n')) {
    if (out.size() == kMaxNoteSignatures) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the note has more than ", kMaxNoteSignatures, " signatures"));
    }
    DX_ASSIGN_OR_RETURN(NoteSignature sig, ParseSignatureLine(line));
    out.push_back(std::move(sig));
  }
  return out;
}

absl::StatusOr<Note> ParseNote(absl::string_view note) {
  if (note.size() > kMaxNoteBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the note is larger than ", kMaxNoteBytes, " bytes"));
  }
  DX_RETURN_IF_ERROR(CheckNoteText(note));
  // The text ends at the last blank line: the signature block has none.
  const size_t split = note.rfind("\n\n");
  if (split == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "the note has no blank line between its text and its signatures");
  }
  Note out;
  out.text = std::string(note.substr(0, split + 1));
  if (out.text == "\n") {
    return absl::InvalidArgumentError("the note text is empty");
  }
  DX_ASSIGN_OR_RETURN(out.signatures,
                      ParseSignatureLines(note.substr(split + 2)));
  return out;
}

std::string FormatSignatureLine(const NoteSignature& sig) {
  return absl::StrCat(kSigPrefix, sig.name, " ",
                      absl::Base64Escape(absl::StrCat(
                          EncodeBigEndian32(sig.key_id), sig.signature)),
                      "\n");
}

std::string FormatNote(const Note& note) {
  std::string out = absl::StrCat(note.text, "\n");
  for (const NoteSignature& sig : note.signatures) {
    out += FormatSignatureLine(sig);
  }
  return out;
}

uint32_t NameBoundKeyId(absl::string_view name, uint8_t type,
                        absl::string_view key_material) {
  std::string in = absl::StrCat(name, "\n");
  in.push_back(static_cast<char>(type));
  in.append(key_material.data(), key_material.size());
  return BigEndian32(certs::Sha256(in));
}

absl::StatusOr<std::string> StrictBase64Decode(absl::string_view in) {
  std::string out;
  if (in.empty() || !absl::Base64Unescape(in, &out) ||
      absl::Base64Escape(out) != in) {
    return absl::InvalidArgumentError("not standard padded base64");
  }
  return out;
}

absl::StatusOr<std::vector<NoteSignature>> VerifyNote(
    const Note& note, const std::vector<const NoteVerifier*>& verifiers) {
  std::vector<NoteSignature> verified;
  for (const NoteSignature& sig : note.signatures) {
    for (const NoteVerifier* v : verifiers) {
      if (v->name() != sig.name || v->key_id() != sig.key_id) continue;
      if (!v->Verify(note.text, sig.signature)) {
        return absl::PermissionDeniedError(absl::StrFormat(
            "the signature of known key %s (ID %08x) does not verify: the "
            "note was altered or signed by another key",
            sig.name, sig.key_id));
      }
      verified.push_back(sig);
      break;
    }
  }
  if (verified.empty()) {
    return absl::PermissionDeniedError(
        "no signature on the note is from a trusted key");
  }
  return verified;
}

std::string FormatVerifierKey(const VerifierKey& key) {
  std::string material(1, static_cast<char>(key.type));
  material += key.key_material;
  return absl::StrFormat("%s+%08x+%s", key.name, key.key_id,
                         absl::Base64Escape(material));
}

absl::StatusOr<VerifierKey> ParseVerifierKey(absl::string_view vkey) {
  // Names never hold '+', base64 may: the key is all after the second one.
  std::vector<absl::string_view> parts =
      absl::StrSplit(vkey, absl::MaxSplits('+', 2));
  if (parts.size() != 3 || parts[1].size() != 8) {
    return absl::InvalidArgumentError(
        "a verifier key must be '<name>+<8 hex digits>+<base64 key>'");
  }
  VerifierKey out;
  out.name = std::string(parts[0]);
  DX_RETURN_IF_ERROR(CheckKeyName(out.name));
  for (char c : parts[1]) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) ||
        absl::ascii_isupper(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "a verifier key's ID must be 8 lower-case hex digits");
    }
  }
  out.key_id = BigEndian32(absl::HexStringToBytes(parts[1]));
  auto material = StrictBase64Decode(parts[2]);
  if (!material.ok() || material->size() < 2) {
    return absl::InvalidArgumentError(
        "a verifier key's key must be base64 of a type byte and the key");
  }
  out.type = static_cast<uint8_t>((*material)[0]);
  out.key_material = material->substr(1);
  return out;
}

}  // namespace dx::witness
