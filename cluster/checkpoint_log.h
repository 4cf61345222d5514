// CheckpointLog: a reader of the cluster checkpoint log in etcd
// (cluster/checkpoint_keys.h). It caches the leaves it has read (the log
// only grows) with every perfect subtree, so a proof costs one read of the
// newest head and of the leaves appended since. Used by the checkpointer
// (to extend the tree) and by the Audit service (proofs). Thread-safe.
#ifndef DX_CLUSTER_CHECKPOINT_LOG_H_
#define DX_CLUSTER_CHECKPOINT_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "audit/checkpoint_source.h"
#include "audit/merkle.h"
#include "cluster/checkpoint_keys.h"
#include "dx/v1/audit.pb.h"
#include "dx/v1/cluster.pb.h"
#include "etcd/client.h"

namespace dx::cluster {

class CheckpointLog final : public audit::CheckpointSource {
 public:
  CheckpointLog(etcd::Client* client, std::string prefix)
      : client_(client), keys_{std::move(prefix)} {}

  // The newest signed cluster tree head and the etcd mod_revision of its
  // key (0 and an empty head when nothing was checkpointed yet).
  struct HeadState {
    v1::SignedTreeHead head;
    int64_t mod_revision = 0;
  };
  absl::StatusOr<HeadState> ReadHead() const;

  // The tree of the first `size` leaves, read from etcd as needed; DATA_LOSS
  // when a leaf is missing or does not parse.
  absl::StatusOr<audit::CompactRange> RangeOf(uint64_t size)
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<v1::CheckpointProof> ProofFor(const std::string& node_id,
                                               uint64_t min_tree_size) override
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::vector<v1::CheckpointAlarm>> Alarms() const;
  // Every node that ever published a tree head, with its last address.
  absl::StatusOr<std::vector<v1::ClusterNode>> KnownNodes() const;

  const CheckpointKeys& keys() const { return keys_; }

 private:
  struct Leaf {
    std::string node_id;
    uint64_t tree_size;
  };
  // Reads leaves [cached, size) into the cache.
  absl::Status LoadUpTo(uint64_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  etcd::Client* const client_;
  const CheckpointKeys keys_;
  mutable absl::Mutex mu_;
  std::vector<Leaf> leaves_ ABSL_GUARDED_BY(mu_);
  // levels_[l][i]: the hash of the perfect subtree of 2^l leaves from i<<l.
  std::vector<std::vector<std::string>> levels_ ABSL_GUARDED_BY(mu_);
  audit::CompactRange range_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_CHECKPOINT_LOG_H_
