// C2SP checkpoints (c2sp.org/tlog-checkpoint): the note text "origin\n
// tree size\nbase64(root)\n[extension lines]", built from our signed tree
// heads (audit/tree_head.h) and signed with the node's log key. The
// checkpoint carries no timestamp (extension lines are not recommended);
// the STH keeps its own. Pure functions; thread-safe.
#ifndef DX_WITNESS_CHECKPOINT_H_
#define DX_WITNESS_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dx/v1/audit.pb.h"
#include "witness/keys.h"

namespace dx::witness {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  std::string root_hash;  // 32 bytes
  std::vector<std::string> extensions;
};

// The note text, ending in a newline.
std::string FormatCheckpoint(const Checkpoint& checkpoint);
// Parses a note text: an origin, a decimal size without leading zeros, a
// base64 32-byte root, non-empty extension lines. InvalidArgument naming the
// line otherwise.
absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text);

// The checkpoint of a signed tree head, for the log named `origin`.
absl::StatusOr<Checkpoint> CheckpointFromTreeHead(const v1::SignedTreeHead& sth,
                                                  absl::string_view origin);

// The whole signed note: the checkpoint signed by `signer` (whose name
// should be the origin, as tlog-checkpoint recommends).
absl::StatusOr<std::string> SignCheckpoint(const Checkpoint& checkpoint,
                                           const EcdsaNoteSigner& signer);

}  // namespace dx::witness

#endif  // DX_WITNESS_CHECKPOINT_H_
