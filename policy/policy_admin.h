// PolicyAdmin: what administrators do to policies, apart from gRPC (the
// service in services/policy_admin_service.h calls this once authz/ has
// checked the caller's role). Applying a document validates it against
// the registry and the rest of the active policy, refuses it whole on any
// error (file, line and field named), commits a new revision to the
// store (compare-and-swap: a change made meanwhile, on any node, refuses
// it), records the commit in the audit log, and returns once the revision
// is in force on this node (PolicySync installs every revision, whoever
// committed it).
// Changes to datasets under the two-person rule wait for a second
// administrator. A commit that is refused or lost is recorded as such.
// Thread-safe: this node's changes are serialized.
#ifndef DX_POLICY_POLICY_ADMIN_H_
#define DX_POLICY_POLICY_ADMIN_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "audit/admin_recorder.h"
#include "common/clock.h"
#include "common/yaml_proto.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"
#include "policy/policy_authorizer.h"
#include "policy/policy_store.h"
#include "policy/policy_sync.h"

namespace dx::policy {

class PolicyAdmin {
 public:
  struct Deps {
    PolicyStore* store = nullptr;
    PolicySync* sync = nullptr;
    const Clock* clock = nullptr;
    // Where changes and refusals are recorded; must outlive this.
    audit::AdminRecorder* recorder = nullptr;
  };

  // When the store is empty and `bootstrap_file` is set, that file becomes
  // revision 1 (authored "bootstrap"; in a cluster, the first node to
  // commit it wins); errors in it fail the start with file and line.
  static absl::StatusOr<std::unique_ptr<PolicyAdmin>> Create(
      Deps deps, const std::string& bootstrap_file);
  // The revision this node seeded from `bootstrap_file` (0: it did not;
  // the store held a policy, or another node seeded it first).
  uint64_t seeded_revision() const { return seeded_revision_; }

  // `actor` is "policy-admin:NAME" (certs::ActorName). A refused change
  // (bad document, two-person rule, lost race) is recorded as
  // "policy.refused" before the error is returned.
  absl::StatusOr<v1::ApplyPolicyResponse> Apply(
      const std::string& actor, const v1::ApplyPolicyRequest& request);
  absl::StatusOr<v1::ApplyPolicyResponse> Rollback(
      const std::string& actor, const v1::RollbackPolicyRequest& request);
  absl::StatusOr<v1::ApplyPolicyResponse> Approve(
      const std::string& actor, const v1::ApprovePolicyRequest& request);
  absl::Status Reject(const std::string& actor,
                      const v1::RejectPolicyRequest& request);

  // Records a refused change (bad document, wrong role, two-person rule):
  // attempts are audited too. Best effort: the refusal stands either way.
  // Public for refusals decided before this class is reached (a document
  // too large for the service).
  void RecordRefusal(const std::string& actor, const std::string& method,
                     const absl::Status& why);

  v1::ValidatePolicyResponse Validate(const v1::ValidatePolicyRequest& request);
  v1::ExplainResponse Explain(const v1::ExplainRequest& request) const;
  absl::StatusOr<v1::GetPolicyResponse> Get(
      const v1::GetPolicyRequest& request) const;
  absl::StatusOr<v1::ListPoliciesResponse> List() const;
  absl::StatusOr<v1::PolicyHistoryResponse> History(
      const v1::PolicyHistoryRequest& request) const;
  absl::StatusOr<v1::PolicyDiffResponse> Diff(
      const v1::PolicyDiffRequest& request) const;
  absl::StatusOr<v1::ListPendingResponse> ListPending() const;

  // A PolicyDocument as the JSON text `get` prints (YAML-compatible, so it
  // can be edited and applied again).
  static std::string ToJson(const google::protobuf::Message& message);

  // A change, checked and ready to store.
  struct Prepared;

 private:
  absl::StatusOr<v1::ApplyPolicyResponse> ApplyChange(
      const std::string& actor, const v1::ApplyPolicyRequest& request);
  absl::StatusOr<v1::ApplyPolicyResponse> RollbackChange(
      const std::string& actor, const v1::RollbackPolicyRequest& request);
  absl::StatusOr<v1::ApplyPolicyResponse> ApproveChange(
      const std::string& actor, const v1::ApprovePolicyRequest& request);
  absl::Status RejectChange(const std::string& actor,
                            const v1::RejectPolicyRequest& request);
  absl::StatusOr<v1::ApplyPolicyResponse> Recorded(
      const std::string& actor, const char* method,
      absl::StatusOr<v1::ApplyPolicyResponse> result);
  explicit PolicyAdmin(Deps deps);

  // Parses, merges with the active policy and compiles. Errors refuse
  // the change (INVALID_ARGUMENT naming file, line and field); warnings go
  // to `response->messages`.
  absl::StatusOr<Prepared> Prepare(const v1::PolicyDocument& incoming,
                                   const YamlLines* lines,
                                   const std::string& source,
                                   v1::ApplyPolicyResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::ApplyPolicyResponse> Submit(
      const std::string& actor, const v1::PolicyDocument& incoming,
      const YamlLines* lines, const std::string& source,
      const std::string& comment, const std::string& action,
      uint64_t restored_revision, bool dry_run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> CommitLocked(const std::string& author,
                                        const std::string& approver,
                                        const std::string& comment,
                                        const std::string& action,
                                        uint64_t restored_revision,
                                        Prepared prepared)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Commits, records the outcome, and waits until the revision is in force.
  absl::StatusOr<uint64_t> CommitAndRecord(
      const std::string& actor, const std::string& action,
      const std::string& detail, v1::PolicyRevision meta, Prepared prepared,
      const std::string& resolves_pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Deps deps_;
  uint64_t seeded_revision_ = 0;  // set once, by Create
  // Serializes this node's changes. The active policy is the sync's.
  mutable absl::Mutex mu_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_ADMIN_H_
