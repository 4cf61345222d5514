#include "witness/checkpoint.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace dx::witness {

std::string FormatCheckpoint(const Checkpoint& checkpoint) {
  std::string out =
      absl::StrCat(checkpoint.origin, "\n", checkpoint.size, "\n",
                   absl::Base64Escape(checkpoint.root_hash), "\n");
  for (const std::string& line : checkpoint.extensions) {
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text) {
  DX_RETURN_IF_ERROR(CheckNoteText(text));
  text.remove_suffix(1);  // the final newline
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(
        "a checkpoint needs an origin, a tree size and a root hash line");
  }
  Checkpoint out;
  if (lines[0].empty()) {
    return absl::InvalidArgumentError("the checkpoint's origin is empty");
  }
  out.origin = std::string(lines[0]);
  const absl::string_view size = lines[1];
  const bool digits = !size.empty() && size.size() <= 20 &&
                      std::all_of(size.begin(), size.end(), [](char c) {
                        return absl::ascii_isdigit(c);
                      });
  if (!digits || (size.size() > 1 && size[0] == '0') ||
      !absl::SimpleAtoi(size, &out.size)) {
    return absl::InvalidArgumentError(
        "the checkpoint's tree size must be a decimal number without leading "
        "zeros");
  }
  auto root = StrictBase64Decode(lines[2]);
  if (!root.ok() || root->size() != 32) {
    return absl::InvalidArgumentError(
        "the checkpoint's root hash must be the base64 of 32 bytes");
  }
  out.root_hash = *std::move(root);
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(
          "a checkpoint's extension lines must not be empty");
    }
    out.extensions.emplace_back(lines[i]);
  }
  return out;
}

absl::StatusOr<Checkpoint> CheckpointFromTreeHead(const v1::SignedTreeHead& sth,
                                                  absl::string_view origin) {
  if (origin.empty() || origin.find('\n') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "a checkpoint origin must be one non-empty line");
  }
  if (sth.root_hash().size() != 32) {
    return absl::InvalidArgumentError(
        "the tree head's root hash is not 32 bytes");
  }
  Checkpoint out;
  out.origin = std::string(origin);
  out.size = sth.tree_size();
  out.root_hash = sth.root_hash();
  return out;
}

absl::StatusOr<std::string> SignCheckpoint(const Checkpoint& checkpoint,
                                           const EcdsaNoteSigner& signer) {
  Note note;
  note.text = FormatCheckpoint(checkpoint);
  // Never sign what we would refuse to parse.
  DX_RETURN_IF_ERROR(ParseCheckpoint(note.text).status());
  DX_ASSIGN_OR_RETURN(NoteSignature sig, signer.Sign(note.text));
  note.signatures.push_back(std::move(sig));
  return FormatNote(note);
}

}  // namespace dx::witness
