// PolicySync: keeps this node's policy equal to the store's head, whoever
// committed it (this node, another node of the cluster, a restore), and
// compiled against the registry in force. It watches the store and the
// registry source; each new revision is compiled on top of the current
// snapshot (only what changed), each new registry recompiles the whole
// policy, and the result is installed in the authorizer the gateway
// decides with. A snapshot that does not compile is not installed: the
// old one stays in force, and Health() says why.
//
// With `max_staleness` set (the cluster), the node must keep hearing from
// the store: when neither a revision nor a progress notice has arrived for
// that long, Health() turns UNAVAILABLE and the gateway refuses exchanges
// (it cannot prove its policy is current), until the store is heard again.
//
// At start, the gateway reads the store's head once more after it may have
// seeded the store (RequireStoreHead): until that revision is in force here,
// Health() is UNAVAILABLE. A node that lost the race to seed a new cluster's
// policy thus never decides with revision 0 while the winner's revision is
// still on its way through the watch.
// Thread-safe.
#ifndef DX_POLICY_POLICY_SYNC_H_
#define DX_POLICY_POLICY_SYNC_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "policy/policy_authorizer.h"
#include "policy/policy_store.h"
#include "registry/registry_source.h"

namespace dx::policy {

class PolicySync final : private PolicyWatcher {
 public:
  struct Deps {
    PolicyStore* store = nullptr;
    registry::RegistrySource* registry = nullptr;
    QuotaStore* quotas = nullptr;
    const Clock* clock = nullptr;
  };
  struct Options {
    // 0: the store is local and always current.
    absl::Duration max_staleness = absl::ZeroDuration();
  };
  // Compiles the store's head against the current registry, then watches.
  // Fails when the stored policy does not fit the registry.
  static absl::StatusOr<std::unique_ptr<PolicySync>> Start(Deps deps,
                                                           Options options);
  ~PolicySync() override;

  // The authorizer the gateway decides with; lives as long as this object.
  PolicyAuthorizer* authorizer() { return authorizer_.get(); }
  std::shared_ptr<const PolicySnapshot> Current() const {
    return authorizer_->Current();
  }

  // Waits until revision `revision` or a later one is in force.
  // DEADLINE_EXCEEDED after `timeout`.
  absl::Status WaitFor(uint64_t revision, absl::Duration timeout) const;

  // A snapshot compiled by the writer (PolicyAdmin) for the commit it is
  // about to make: installed as is when that very commit arrives, instead
  // of being compiled again. `document_sha256` names the commit.
  void ExpectCommit(std::shared_ptr<const PolicySnapshot> snapshot,
                    const std::string& document_sha256);

  // Reads the store's head now (for the cluster, a linearizable read) and
  // holds Health() UNAVAILABLE until that revision, or a later one, is in
  // force here. Returns the head read.
  absl::StatusOr<uint64_t> RequireStoreHead();
  // Waits until the revision RequireStoreHead() read is in force, or a
  // revision could not be installed (Health() says why), or `timeout`
  // passes; true when it is in force.
  bool WaitForRequiredHead(absl::Duration timeout) const;

  // OK, or why this node's policy may not be current: a revision that did
  // not compile, the store's head at start not yet in force, or (with
  // max_staleness) no word from the store.
  absl::Status Health() const;

  // Whether the policy in force compiles against `candidate` (a registry
  // about to be applied): INVALID_ARGUMENT with the problems if not.
  absl::Status CheckRegistry(
      std::shared_ptr<const registry::Registry> candidate) const;
  // Waits until the policy in force is compiled against a registry of
  // revision `revision` or later.
  absl::Status WaitForRegistry(uint64_t revision, absl::Duration timeout) const;

 private:
  PolicySync(Deps deps, Options options);
  void OnCommit(const v1::PolicyCommit& commit) override;
  void OnReset(uint64_t head) override;
  void OnCurrent(uint64_t head, absl::Time when) override;
  void OnRegistry(std::shared_ptr<const registry::Registry> registry);
  // Reads the whole policy at `head` and compiles it against `registry`.
  absl::StatusOr<std::shared_ptr<const PolicySnapshot>> Load(
      uint64_t head, std::shared_ptr<const registry::Registry> registry) const;
  void Install(std::shared_ptr<const PolicySnapshot> s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Deps deps_;
  const Options options_;
  std::unique_ptr<PolicyAuthorizer> authorizer_;
  // Both dropped first in the destructor: no callback runs after.
  std::unique_ptr<WatchHandle> registry_watch_;
  std::unique_ptr<WatchHandle> watch_;

  mutable absl::Mutex mu_;
  // Set when a revision could not be installed; cleared by the next one
  // that is.
  absl::Status problem_ ABSL_GUARDED_BY(mu_);
  absl::Time heard_ ABSL_GUARDED_BY(mu_);
  // The head the store last announced (may be ahead of the installed
  // snapshot while one does not compile).
  uint64_t store_head_ ABSL_GUARDED_BY(mu_) = 0;
  // The head RequireStoreHead() read: not ready below it.
  uint64_t required_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const PolicySnapshot> expected_ ABSL_GUARDED_BY(mu_);
  std::string expected_sha256_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_SYNC_H_
