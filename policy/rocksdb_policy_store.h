// RocksDbPolicyStore: the embedded PolicyStore, in its own RocksDB
// (data_dir/policy). Watchers are told of each commit on the committing
// thread, before Commit returns.
//
// Keys:  h                         -> head revision (8 bytes, big endian)
//        r/<rev>                   -> PolicyRevision
//        o/<dataset>\0<rev>        -> DatasetPolicy as of <rev>
//        d/<rev>                   -> PolicyDirectory as of <rev>
//        p/<id>                    -> PendingChange
// Thread-safe; commits are serialized and synced.
#ifndef DX_POLICY_ROCKSDB_POLICY_STORE_H_
#define DX_POLICY_ROCKSDB_POLICY_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "policy/policy_store.h"

namespace rocksdb {
class DB;
}

namespace dx::policy {

class RocksDbPolicyStore final : public PolicyStore {
 public:
  static absl::StatusOr<std::unique_ptr<RocksDbPolicyStore>> Open(
      const std::string& path);
  ~RocksDbPolicyStore() override;

  absl::StatusOr<uint64_t> Head() const override;
  absl::StatusOr<v1::PolicyDocument> StateAt(
      uint64_t revision, const std::string& only) const override;
  absl::StatusOr<uint64_t> Commit(v1::PolicyRevision meta,
                                  const v1::PolicyDocument& changes,
                                  bool directory_changed,
                                  uint64_t expected_head,
                                  const std::string& resolves_pending) override;
  absl::StatusOr<std::vector<v1::PolicyRevision>> History(
      const std::string& dataset, size_t limit) const override;
  absl::Status PutPending(const v1::PendingChange& change) override;
  absl::StatusOr<v1::PendingChange> GetPending(
      const std::string& id) const override;
  absl::Status DeletePending(const std::string& id) override;
  absl::StatusOr<std::vector<v1::PendingChange>> ListPending() const override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      uint64_t after, PolicyWatcher* watcher) override;

  // A consistent copy in `dir` (which must not exist), for backups.
  absl::Status Checkpoint(const std::string& dir) const;

 private:
  class Handle;
  explicit RocksDbPolicyStore(std::unique_ptr<rocksdb::DB> db);
  // Revision `rev` as a watcher sees it, read back from the keys above.
  absl::StatusOr<v1::PolicyCommit> ReadCommit(uint64_t rev) const;
  void Unwatch(PolicyWatcher* watcher);

  std::unique_ptr<rocksdb::DB> db_;
  // Held across a commit and its notices, so that watchers see revisions
  // in order and a new watch misses none. Taken before mu_.
  mutable absl::Mutex commit_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  uint64_t head_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<PolicyWatcher*> watchers_ ABSL_GUARDED_BY(commit_mu_);
};

}  // namespace dx::policy

#endif  // DX_POLICY_ROCKSDB_POLICY_STORE_H_
