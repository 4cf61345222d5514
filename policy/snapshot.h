// PolicySnapshot: the sharing policy compiled for fast decisions: one
// immutable object per policy revision, built from the registry (datasets,
// owners, categories, field tags) and a full PolicyDocument. The gateway
// swaps snapshots atomically (PolicyAuthorizer), so a change never fails or
// slows an exchange in flight. Thread-safe (immutable).
//
// How a decision is reached (docs/POLICY.md):
//   0. a consumer whose code was succeeded (registry successions) is
//      refused from the effective date, after its grace period
//      (FAILED_PRECONDITION, naming the successors); then the dataset, the
//      consumer's system, every field asked and every query key sent must
//      be in the registry (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT),
//      and its required query keys sent; a dataset, or a field asked or
//      queried by, marked state_secret is refused (STATE_SECRET), whoever
//      asks, the owner included; "all I may read" never includes a
//      state-secret field;
//   1. forbid rules matching the consumer and purpose: a whole-dataset
//      forbid refuses; field forbids refuse requests naming those fields,
//      or querying by them (QUERY_NOT_ALLOWED), and remove them from "all
//      I may read";
//   2. the owner agency reads its own data;
//   3. the first grant, in the order written, that matches the consumer,
//      purpose, operation, validity window, fields, query keys (on fields
//      it lets the consumer read or named in its query_keys; masked ones
//      by equality only) and personal-data requirements decides, with its
//      masks, row filter and quota;
//   4. an open dataset's non-personal fields are readable by any agency;
//   5. otherwise deny, with the nearest miss as the reason.
#ifndef DX_POLICY_SNAPSHOT_H_
#define DX_POLICY_SNAPSHOT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"
#include "policy/decision.h"
#include "registry/registry.h"

namespace dx::policy {

// A problem found while compiling: errors refuse the policy, warnings are
// reported. `path` is the field's path in the document, e.g.
// "datasets[0].grants[2].fields[1]".
struct PolicyProblem {
  bool error = true;
  std::string path;
  std::string message;
};

// Whether changes to `dataset`'s policy need a second administrator: the
// policy's own two_person_rule when set, else on for private datasets and
// those with a field tagged important or core.
bool TwoPersonRule(const v1::Dataset& dataset, const v1::DatasetPolicy* policy);

class PolicySnapshot {
 public:
  // Compiles a policy against `registry`. With `base` null, `changes` is the
  // whole policy. Otherwise the result is `base` with the datasets named in
  // `changes` replaced (an empty DatasetPolicy removes one) and, when
  // `changes` has a directory, the directory replaced; unchanged datasets
  // are shared with `base`, not compiled again (a directory change compiles
  // everything again: groups are expanded at compile time), so a change to
  // one dataset takes milliseconds whatever the size of the policy. `base`
  // may have been compiled against another registry: then every stored
  // policy is compiled again against `registry` (a registry change).
  //
  // Appends every problem found to `problems` (may be null): paths are
  // "datasets[i]..." and "directory..." inside `changes`, and
  // "stored:<dataset>..." for stored policies compiled again. Fails with
  // INVALID_ARGUMENT when there is at least one error. `now` is only used to
  // warn about agreements that have expired.
  //
  // A grant that would let a state secret leave (registry state_secret) is
  // an error in `changes`; a stored one (and, with
  // `tolerate_state_secret_grants`, one in `changes`: what a node loads
  // from its store) is disabled with a warning instead. Decide refuses
  // state secrets whatever the grants say.
  static absl::StatusOr<std::shared_ptr<const PolicySnapshot>> Compile(
      std::shared_ptr<const registry::Registry> registry,
      const v1::PolicyDocument& changes, const PolicySnapshot* base,
      uint64_t revision, absl::Time now, std::vector<PolicyProblem>* problems,
      bool tolerate_state_secret_grants = false);
  ~PolicySnapshot();

  // The decision for `request` at time `now`. Quotas are not counted here
  // (PolicyAuthorizer does). With `trace`, one line per rule considered.
  AccessDecision Decide(const AccessRequest& request, absl::Time now,
                        std::vector<std::string>* trace = nullptr) const;

  uint64_t revision() const { return revision_; }
  // The registry this snapshot was compiled against; decisions carry it.
  const std::shared_ptr<const registry::Registry>& registry() const {
    return registry_;
  }
  const std::string& version() const { return version_; }
  const v1::PolicyDirectory& directory() const { return *directory_; }
  // The policy of `dataset`, or null when it has none (category defaults).
  const v1::DatasetPolicy* PolicyOf(const std::string& dataset) const;

  struct CompiledDataset;
  // Agency code -> attribute name -> value (PolicyDirectory).
  using AgencyAttributes =
      absl::flat_hash_map<std::string,
                          absl::flat_hash_map<std::string, std::string>>;

 private:
  PolicySnapshot() = default;

  // The steps of Decide, numbered as at the top of this file; each returns
  // true once it has decided `d`. Evaluation (snapshot.cc) holds what they
  // share: the request resolved against the dataset, what the forbids
  // removed, the nearest miss so far.
  struct Evaluation;
  bool RefuseOutsideRegistry(Evaluation* e, AccessDecision* d) const;      // 0
  bool RefuseStateSecret(const Evaluation& e, AccessDecision* d) const;    // 0
  bool RefuseSucceededConsumer(Evaluation* e, AccessDecision* d) const;    // 0
  bool ApplyForbids(Evaluation* e, AccessDecision* d) const;               // 1
  bool OwnerReads(const Evaluation& e, AccessDecision* d) const;           // 2
  bool FirstGrantDecides(Evaluation* e, AccessDecision* d) const;          // 3
  bool OpenDataDecides(Evaluation* e, AccessDecision* d) const;            // 4
  void DenyWithNearestMiss(const Evaluation& e, AccessDecision* d) const;  // 5

  uint64_t revision_ = 0;
  std::string version_;
  std::shared_ptr<const registry::Registry> registry_;
  std::shared_ptr<const v1::PolicyDirectory>
      directory_;  // shared, as attributes_
  // Every registry dataset, compiled. Snapshots made by small changes share
  // their base's map and keep the datasets they changed in overrides_
  // (looked up first); past kMaxOverrides a new full map is built.
  using DatasetMap =
      absl::flat_hash_map<std::string, std::shared_ptr<const CompiledDataset>>;
  static constexpr size_t kMaxOverrides = 64;
  const std::shared_ptr<const CompiledDataset>& FindShared(
      const std::string& dataset) const;
  const CompiledDataset* Find(const std::string& dataset) const {
    return FindShared(dataset).get();
  }
  std::shared_ptr<const DatasetMap> datasets_;
  DatasetMap overrides_;
  // Shared with the next snapshot when the directory does not change.
  std::shared_ptr<const AgencyAttributes> attributes_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_SNAPSHOT_H_
