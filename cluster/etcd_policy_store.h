// EtcdPolicyStore: the PolicyStore of a cluster, in etcd, so that every
// node decides with the same revisions and a change (or a two-person
// approval) made through any node is in force on all of them.
//
// Keys under <prefix>policy/:
//   head                       -> the head revision (decimal)
//   rev/<20-digit rev>         -> PolicyCommit (what a watcher receives)
//   obj/<dataset>/<20-digit>   -> DatasetPolicy as of that revision
//   dir/<20-digit>             -> PolicyDirectory as of that revision
//   pending/<id>               -> PendingChange
// A commit is one transaction: the head must still be the expected one
// (and the pending change still there), then every key is written. A
// commit whose answer was lost and that is retried finds its own revision
// and counts as done. A watch reads what was committed after `after`, then
// follows rev/ with an etcd watch from the next etcd revision; when etcd
// has compacted that away it tells the watcher to reset. A linearizable
// read of the head every `confirm_interval` tells the watcher it is
// current (OnCurrent), which is what keeps a node's policy provably fresh.
// At most 120 datasets change in one commit (etcd's transaction limit).
// Thread-safe.
#ifndef DX_CLUSTER_ETCD_POLICY_STORE_H_
#define DX_CLUSTER_ETCD_POLICY_STORE_H_

#include <memory>
#include <string>

#include "common/clock.h"
#include "etcd/client.h"
#include "policy/policy_store.h"

namespace dx::cluster {

class EtcdPolicyStore final : public policy::PolicyStore {
 public:
  struct Options {
    std::string prefix = "/dx/";
    absl::Duration confirm_interval = absl::Seconds(1);
  };
  EtcdPolicyStore(etcd::Client* client, const Clock* clock, Options options);
  ~EtcdPolicyStore() override;

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
      uint64_t after, policy::PolicyWatcher* watcher) override;

 private:
  class Follower;
  std::string Key(const std::string& suffix) const;
  static std::string Rev(uint64_t revision);
  // Every commit after `after`, in order, and the etcd revision read at.
  absl::StatusOr<std::vector<v1::PolicyCommit>> CommitsAfter(
      uint64_t after, int64_t* etcd_revision) const;

  etcd::Client* const client_;
  const Clock* const clock_;
  const Options options_;
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_ETCD_POLICY_STORE_H_
