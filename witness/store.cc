#include "witness/store.h"

#include "absl/strings/str_cat.h"

namespace dx::witness {

absl::StatusOr<WitnessedCheckpoints> InMemoryWitnessStore::LoadAll() const {
  absl::MutexLock lock(&mu_);
  return saved_;
}

absl::Status InMemoryWitnessStore::Save(absl::string_view origin,
                                        const WitnessedCheckpoint& checkpoint) {
  absl::MutexLock lock(&mu_);
  saved_[std::string(origin)] = checkpoint;
  return absl::OkStatus();
}

std::string EncodeWitnessedCheckpoint(const WitnessedCheckpoint& checkpoint) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((checkpoint.size >> (56 - 8 * i)) & 0xff);
  }
  absl::StrAppend(&out, checkpoint.root_hash, checkpoint.note);
  return out;
}

absl::StatusOr<WitnessedCheckpoint> DecodeWitnessedCheckpoint(
    absl::string_view bytes) {
  if (bytes.size() < 8 + 32) {
    return absl::DataLossError(
        absl::StrCat("a stored witnessed checkpoint has ", bytes.size(),
                     " bytes, fewer than a size and a root: the witness's "
                     "state is damaged; restore it from a backup"));
  }
  WitnessedCheckpoint out;
  for (int i = 0; i < 8; ++i) {
    out.size = (out.size << 8) | static_cast<unsigned char>(bytes[i]);
  }
  out.root_hash = std::string(bytes.substr(8, 32));
  out.note = std::string(bytes.substr(40));
  return out;
}

}  // namespace dx::witness
