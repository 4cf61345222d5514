// CheckpointSource: where the Audit service finds a cluster's checkpoint
// log (cluster/checkpoint_log.h, in etcd). A single node has none: its own
// signed tree heads are the root of trust.
#ifndef DX_AUDIT_CHECKPOINT_SOURCE_H_
#define DX_AUDIT_CHECKPOINT_SOURCE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

class CheckpointSource {
 public:
  virtual ~CheckpointSource() = default;
  // The first checkpoint of `node_id` whose tree has at least
  // `min_tree_size` leaves (0: its newest), with its inclusion proof in the
  // cluster log's newest signed tree head. NOT_FOUND when there is none yet.
  virtual absl::StatusOr<v1::CheckpointProof> ProofFor(
      const std::string& node_id, uint64_t min_tree_size) = 0;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_CHECKPOINT_SOURCE_H_
