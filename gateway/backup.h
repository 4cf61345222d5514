// TakeBackup: an online backup of a node, taken while it serves (dxctl
// admin backup; docs/OPERATIONS.md, Backups): RocksDB checkpoints of the
// local policy store and of the audit log (in that order, so that every
// policy revision in the backup has its audit record in it too), the key
// of the subject hash (without it subject searches of the restored log
// find nothing), and manifest.json naming the records and the last signed
// tree head the copy holds, read back from the copy itself.
#ifndef DX_GATEWAY_BACKUP_H_
#define DX_GATEWAY_BACKUP_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "dx/v1/cluster.pb.h"

namespace dx::audit {
class StateDb;
}

namespace dx::gateway {

struct BackupSources {
  std::string node_id;
  const Clock* clock = nullptr;
  const audit::StateDb* state_db = nullptr;
  // Null when the policy is not local (a cluster's is in etcd).
  std::function<absl::Status(const std::string& dir)> checkpoint_policy;
  std::function<uint64_t()> policy_revision;
  // data_dir's subject-hash key file; skipped when it does not exist (the
  // key is then in the configuration).
  std::string subject_key_file;
};

// `out_dir`: absolute, not existing yet, its parent existing. On failure
// nothing is left in it.
absl::StatusOr<v1::BackupManifest> TakeBackup(const BackupSources& sources,
                                              const std::string& out_dir);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_BACKUP_H_
