// PolicyStore: every policy change as an immutable revision in RocksDB
// (data_dir/policy). Nothing is ever overwritten: the state at any revision
// can be read back, which is what history, diff and rollback use.
//
// Keys:  h                         -> head revision (8 bytes, big endian)
//        r/<rev>                   -> PolicyRevision
//        o/<dataset>\0<rev>        -> DatasetPolicy as of <rev>
//        d/<rev>                   -> PolicyDirectory as of <rev>
//        p/<id>                    -> PendingChange
// Thread-safe; commits are serialized and synced.
#ifndef DX_POLICY_POLICY_STORE_H_
#define DX_POLICY_POLICY_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dx/v1/policy.pb.h"

namespace rocksdb {
class DB;
}

namespace dx::policy {

class PolicyStore {
 public:
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Open(
      const std::string& path);
  ~PolicyStore();

  // The latest revision (0: nothing applied yet).
  uint64_t head() const;

  // The policy as of `revision` (0: head): the directory and every
  // dataset's policy, or only the directory (`only` = "directory") or only
  // one dataset's policy (`only` = its id).
  absl::StatusOr<v1::PolicyDocument> StateAt(
      uint64_t revision, const std::string& only = "") const;

  // Stores `changes` (the datasets it names replace theirs; its directory,
  // when `directory_changed`, replaces the directory) as revision head()+1.
  // `meta.revision` is set here. Fails with ABORTED when head() is no longer
  // `expected_head` (another change came first).
  absl::StatusOr<uint64_t> Commit(v1::PolicyRevision meta,
                                  const v1::PolicyDocument& changes,
                                  bool directory_changed,
                                  uint64_t expected_head);

  // Newest first; `dataset` empty for every revision, "directory" for the
  // directory's. At most `limit` (0: all).
  absl::StatusOr<std::vector<v1::PolicyRevision>> History(
      const std::string& dataset, size_t limit) const;

  absl::Status PutPending(const v1::PendingChange& change);
  absl::StatusOr<v1::PendingChange> GetPending(const std::string& id) const;
  absl::Status DeletePending(const std::string& id);
  absl::StatusOr<std::vector<v1::PendingChange>> ListPending() const;

 private:
  explicit PolicyStore(std::unique_ptr<rocksdb::DB> db);

  std::unique_ptr<rocksdb::DB> db_;
  mutable absl::Mutex mu_;
  uint64_t head_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_STORE_H_
