// RegistryAdmin: what operators do to the registry, apart from gRPC (the
// RegistryAdmin service calls this once authz/ has admitted the caller).
// A new registry is validated whole (file, line and field named), checked
// against the sharing policy in force (a registry the policy does not fit
// is refused, naming what the policy still refers to), committed as the
// next revision (compare-and-swap), recorded in the audit log, and in
// force on this node before the operator is answered; every node of the
// cluster follows its watch. A node that reads its registry from a file
// refuses changes (there is no shared store to put them in): the source
// says so, this class does not ask which kind it holds.
//
// State-secret marks can be set by one operator but removed only by two: an
// Apply that removes a state_secret mark is held (in memory, on this node)
// and recorded as registry.pending; another operator's Apply with
// `approves` set commits it as proposed, recorded with both names. A
// reload of a registry file that removes a mark is refused. Thread-safe.
#ifndef DX_GATEWAY_REGISTRY_ADMIN_H_
#define DX_GATEWAY_REGISTRY_ADMIN_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "audit/admin_recorder.h"
#include "common/clock.h"
#include "dx/v1/registry.pb.h"
#include "policy/policy_sync.h"
#include "registry/registry_source.h"

namespace dx::gateway {

class RegistryAdmin {
 public:
  struct Deps {
    // The one registry in force: a file on this node (commits refused) or
    // the cluster's store (reloads refused).
    registry::RegistrySource* source = nullptr;
    policy::PolicySync* sync = nullptr;
    const Clock* clock = nullptr;
    // Where changes and refusals are recorded; must outlive this.
    audit::AdminRecorder* recorder = nullptr;
  };
  explicit RegistryAdmin(Deps deps) : deps_(std::move(deps)) {}

  // `actor` is "operator:NAME". Refusals are recorded as registry.refused.
  absl::StatusOr<v1::ApplyRegistryResponse> Apply(
      const std::string& actor, const v1::ApplyRegistryRequest& request);
  // Reads the registry file again (a node with a file registry; SIGHUP or
  // a change to the file): validated whole and against the policy, then in
  // force and recorded as registry.reload with what changed; a file that
  // does not validate is refused (the registry in force stays) and
  // recorded as registry.reload-refused. Returns the changes (none: the
  // file is unchanged, nothing is recorded).
  absl::StatusOr<std::vector<std::string>> ReloadFile(
      const std::string& actor, const std::string& trigger);
  v1::GetRegistryResponse Get() const;
  absl::StatusOr<v1::RegistryHistoryResponse> History(
      const v1::RegistryHistoryRequest& request) const;

 private:
  absl::StatusOr<std::vector<std::string>> ReloadFileUnrecorded(
      const std::string& actor, const std::string& trigger);
  absl::StatusOr<v1::ApplyRegistryResponse> ApplyUnrecorded(
      const std::string& actor, const v1::ApplyRegistryRequest& request);
  // The pending change `request.approves` names, checked: another
  // operator's, on the registry in force.
  absl::StatusOr<v1::PendingRegistryChange> TakeApproval(
      const std::string& actor, const v1::ApplyRegistryRequest& request,
      uint64_t current_revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::ApplyRegistryResponse> Hold(
      const std::string& actor, const v1::ApplyRegistryRequest& request,
      uint64_t base_revision, std::vector<std::string> removed,
      v1::ApplyRegistryResponse out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // At most this many changes wait at once on a node.
  static constexpr size_t kMaxPending = 16;

  const Deps deps_;
  absl::Mutex mu_;  // serializes this node's changes
  // Held for a second operator, by id. Its own mutex: Get must not wait
  // for a change being put in force under mu_.
  mutable absl::Mutex pending_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::map<std::string, v1::PendingRegistryChange> pending_
      ABSL_GUARDED_BY(pending_mu_);
};

// What changed between two registries, for people: "dataset x added",
// "agency y removed", "dataset z changed".
std::vector<std::string> RegistryChanges(const v1::Registry& before,
                                         const v1::Registry& after);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REGISTRY_ADMIN_H_
