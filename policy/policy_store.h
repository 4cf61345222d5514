// PolicyStore: the seam for where sharing-policy revisions and pending
// changes live. Every change is an immutable revision; nothing is ever
// overwritten, so the state at any revision can be read back (history,
// diff, rollback). Commits are compare-and-swap on the head, so two
// writers (two administrators, or two gateway nodes) cannot both make
// revision N. Watchers learn of every revision in order, whoever wrote it:
// that is how each node's policy follows the store (policy/policy_sync.h).
//
// Implementations: RocksDbPolicyStore (the embedded default, data_dir/
// policy) and the cluster's etcd store; both pass the conformance suite
// in policy/policy_store_conformance.h. Methods may block on I/O: they
// are called by administrative paths, never by the exchange path.
#ifndef DX_POLICY_POLICY_STORE_H_
#define DX_POLICY_POLICY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/watch_handle.h"
#include "dx/v1/policy.pb.h"

namespace dx::policy {

// What a watch delivers. Callbacks of one watch run one at a time, in
// revision order, on a thread of the store's (for the local store, the
// committing thread, before Commit returns); they must not call Commit.
class PolicyWatcher {
 public:
  virtual ~PolicyWatcher() = default;
  // The next revision, with what it changed.
  virtual void OnCommit(const v1::PolicyCommit& commit) = 0;
  // The store cannot deliver the revisions in between (the cluster's watch
  // was compacted away): read StateAt(head) afresh. Revisions after `head`
  // follow as OnCommit.
  virtual void OnReset(uint64_t head) = 0;
  // The store confirms that nothing after `head` was committed, as of
  // `when` (the cluster's progress notices; never for the local store,
  // which is current by construction).
  virtual void OnCurrent(uint64_t head, absl::Time when) = 0;
};

class PolicyStore {
 public:
  // Keeps a watch running (common/watch_handle.h): once it is destroyed no
  // callback runs (it waits for one running on another thread). It must
  // not be destroyed from inside a callback of its own watch (it would wait
  // for itself), nor outlive the store.
  using WatchHandle = dx::WatchHandle;

  virtual ~PolicyStore() = default;

  // The latest revision (0: nothing applied yet).
  virtual absl::StatusOr<uint64_t> Head() const = 0;

  // The policy as of `revision` (0: head): the directory and every
  // dataset's policy (`only` empty), or only the directory (`only` =
  // "directory") or only one dataset's policy (`only` = its id). NOT_FOUND
  // past the head.
  virtual absl::StatusOr<v1::PolicyDocument> StateAt(
      uint64_t revision, const std::string& only) const = 0;

  // Stores `changes` (the datasets it names replace theirs; its directory,
  // when `directory_changed`, replaces the directory) as revision
  // `expected_head` + 1, and returns it; `meta.revision` is set here. With
  // `resolves_pending`, that pending change is deleted in the same commit.
  // `resolves_pending` empty: none. ABORTED when the head is no longer
  // `expected_head`, or the pending change is gone (another change, or
  // another approval, came first). No default arguments here or on any
  // virtual function: an override would not see them.
  virtual absl::StatusOr<uint64_t> Commit(
      v1::PolicyRevision meta, const v1::PolicyDocument& changes,
      bool directory_changed, uint64_t expected_head,
      const std::string& resolves_pending) = 0;

  // Newest first; `dataset` empty for every revision, "directory" for the
  // directory's. At most `limit` (0: all).
  virtual absl::StatusOr<std::vector<v1::PolicyRevision>> History(
      const std::string& dataset, size_t limit) const = 0;

  virtual absl::Status PutPending(const v1::PendingChange& change) = 0;
  virtual absl::StatusOr<v1::PendingChange> GetPending(
      const std::string& id) const = 0;
  // NOT_FOUND when it is not (or no longer) pending.
  virtual absl::Status DeletePending(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::PendingChange>> ListPending()
      const = 0;

  // Delivers every revision after `after` to `watcher`, then each new one.
  // `watcher` must outlive the handle.
  virtual absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      uint64_t after, PolicyWatcher* watcher) = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_STORE_H_
