// PolicySnapshot: the sharing policy compiled for fast decisions: one
// immutable object per policy revision, built from the registry (datasets,
// owners, categories, field tags) and a full PolicyDocument. The gateway
// swaps snapshots atomically (PolicyAuthorizer), so a change never fails or
// slows an exchange in flight. Thread-safe (immutable).
//
// How a decision is reached (docs/POLICY.md):
//   1. forbid rules matching the consumer and purpose: a whole-dataset
//      forbid refuses; field forbids refuse requests naming those fields
//      and remove them from "all I may read";
//   2. the owner agency reads its own data;
//   3. the first grant, in the order written, that matches the consumer,
//      purpose, operation, validity window, fields and personal-data
//      requirements decides, with its masks, row filter and quota;
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
  // Compiles `document` (the directory and every dataset's policy) against
  // `registry`. Appends every problem to `problems` (may be null); fails
  // with INVALID_ARGUMENT when there is at least one error. `now` is only
  // used to warn about agreements that have expired.
  static absl::StatusOr<std::shared_ptr<const PolicySnapshot>> Compile(
      const v1::Registry& registry, const v1::PolicyDocument& document,
      uint64_t revision, absl::Time now, std::vector<PolicyProblem>* problems);
  ~PolicySnapshot();

  // The decision for `request` at time `now`. Quotas are not counted here
  // (PolicyAuthorizer does). With `trace`, one line per rule considered.
  AccessDecision Decide(const AccessRequest& request, absl::Time now,
                        std::vector<std::string>* trace = nullptr) const;

  uint64_t revision() const { return revision_; }
  const std::string& version() const { return version_; }
  const v1::PolicyDocument& document() const { return document_; }

  struct CompiledDataset;

 private:
  PolicySnapshot() = default;

  uint64_t revision_ = 0;
  std::string version_;
  v1::Registry registry_;
  v1::PolicyDocument document_;
  absl::flat_hash_map<std::string, std::unique_ptr<CompiledDataset>> datasets_;
  // Agency code -> attribute name -> value (PolicyDirectory).
  absl::flat_hash_map<std::string,
                      absl::flat_hash_map<std::string, std::string>>
      attributes_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_SNAPSHOT_H_
