// Checkpointer: the cluster checkpoint log's writer. Every node runs one;
// the one elected through etcd (audit/checkpointer, on its lease; another
// takes over within a lease TTL when it dies) does, every interval:
//   1. read each node's published tree head (audit/heads/<node>);
//   2. check it: a gateway certificate of that node that the trust store
//      accepts, a valid signature, and a consistency proof from the tree
//      the cluster accepted of that node before (audit/accepted/<node>);
//   3. append each new, consistent head to the cluster log as a leaf, sign
//      the new cluster tree head, and commit all of it in one etcd
//      transaction that holds only while it is still the elected one and
//      the log's head is the one it read: no index is ever signed twice;
//   4. a head that does not extend what was accepted (a log rewritten,
//      reset or forked) is never accepted: an alarm in etcd
//      (audit/alarms/<node>) and an admin record in this node's log.
// Thread-safe; stops (and resigns) when destroyed.
#ifndef DX_CLUSTER_CHECKPOINTER_H_
#define DX_CLUSTER_CHECKPOINTER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "cluster/checkpoint_log.h"
#include "common/clock.h"
#include "common/periodic.h"
#include "etcd/client.h"

namespace dx::cluster {

class Checkpointer {
 public:
  struct Deps {
    etcd::Client* client = nullptr;
    CheckpointLog* log = nullptr;
    certs::TrustStore* trust = nullptr;
    // Signs the cluster tree heads: this node's log key.
    const certs::Signer* signer = nullptr;
    const Clock* clock = nullptr;
    // Appends an admin record to this node's log (action, detail).
    std::function<void(const std::string&, const std::string&)> record;
  };
  struct Options {
    std::string node_id;
    absl::Duration every = absl::Seconds(60);
    // How long the elected one's lease outlives its last keep-alive: how
    // soon another node takes over when it dies. Kept alive every third.
    absl::Duration lease_ttl = absl::Seconds(3);
  };
  static std::unique_ptr<Checkpointer> Start(Deps deps, Options options);
  ~Checkpointer();

  // One round now: campaign or keep the lease, then checkpoint if elected
  // (tests; the thread runs the same).
  absl::Status RunOnce() ABSL_LOCKS_EXCLUDED(mu_);
  bool elected() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Checkpointer(Deps deps, Options options)
      : deps_(std::move(deps)), options_(std::move(options)) {}
  // What the thread runs: campaign (or keep the lease) every tick, and
  // checkpoint once every `every`.
  absl::Status Tick() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Campaign() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Checkpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Deps deps_;
  const Options options_;
  mutable absl::Mutex mu_;
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  bool elected_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_checkpoint_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::unique_ptr<Periodic> periodic_;  // last: stops first
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_CHECKPOINTER_H_
