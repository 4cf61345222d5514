// The rule compiler of PolicySnapshot::Compile (compile.cc): checks one
// document's directory, grants and forbids against the registry, reporting
// every problem with its path, and builds each rule's compiled form.
// Private to policy/; not thread-safe (one per Compile).
#ifndef DX_POLICY_INTERNAL_RULE_COMPILER_H_
#define DX_POLICY_INTERNAL_RULE_COMPILER_H_

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"
#include "policy/internal/compiled.h"
#include "policy/internal/lint.h"
#include "policy/snapshot.h"

namespace dx::policy::internal {

inline bool HasTag(const v1::FieldSpec& f, absl::string_view tag) {
  return std::find(f.tags().begin(), f.tags().end(), tag) != f.tags().end();
}

// An RFC 3339 time, or INVALID_ARGUMENT saying what one looks like.
absl::Status ParseTime(const std::string& text, absl::Time* out);

class Compiler {
 public:
  Compiler(const v1::Registry& registry, absl::Time now,
           std::vector<PolicyProblem>* problems)
      : registry_(registry), now_(now), problems_(problems) {
    for (const auto& a : registry.agencies()) agencies_.insert(a.code());
  }

  bool failed() const { return errors_ > 0; }

  void Error(const std::string& path, std::string message) {
    ++errors_;
    if (problems_ && !muted_)
      problems_->push_back({true, path, std::move(message)});
  }
  void Warn(const std::string& path, std::string message) {
    if (problems_ && !muted_)
      problems_->push_back({false, path, std::move(message)});
  }
  // While muted, problems are counted but not reported (a stored part that
  // was reported when it was applied).
  void Mute(bool muted) { muted_ = muted; }
  // Grants that would let a state secret leave are refused, except when
  // compiling what is stored already (a node loading its store, a commit
  // made elsewhere): then they are disabled with a warning, so that a mark
  // set after the grant never stops a node (state_secret.cc).
  void TolerateStateSecretGrants(bool tolerate) { tolerate_secret_ = tolerate; }

  // Groups first: grants and forbids refer to them.
  void Directory(
      const v1::PolicyDirectory& dir,
      absl::flat_hash_map<std::string,
                          absl::flat_hash_map<std::string, std::string>>*
          attributes);

  // Adds one consumer spec (code, pattern, group) to `set`.
  void AddCode(const std::string& spec, const std::string& path,
               ConsumerSet* set, bool allow_groups);

  void Purposes(const google::protobuf::RepeatedPtrField<std::string>& in,
                const std::string& path, PurposeSet* out);

  bool Fields(const PolicySnapshot::CompiledDataset& ds,
              const google::protobuf::RepeatedPtrField<std::string>& names,
              const std::string& path, FieldSet* out);

  void Grant(PolicySnapshot::CompiledDataset* ds, const v1::Grant& g,
             const std::string& path);

  // The grant's explicit query_keys, checked against the registry's.
  void QueryKeys(const PolicySnapshot::CompiledDataset& ds, const v1::Grant& g,
                 const std::string& path, CompiledGrant* c);

  void Forbid(PolicySnapshot::CompiledDataset* ds, const v1::Forbid& f,
              const std::string& path);

  // A grant that names a state-secret dataset, or names, queries or
  // filters by a state-secret field: an error, or (stored, tolerated) a
  // warning and the grant disabled (state_secret.cc).
  void StateSecret(const PolicySnapshot::CompiledDataset& ds,
                   const std::string& path, CompiledGrant* c);

  // The lint pass (lint.cc) only warns: nothing to do while muted.
  void Lint(const PolicySnapshot::CompiledDataset& ds,
            const std::string& path) {
    if (problems_ == nullptr || muted_) return;
    LintDataset(ds, path, problems_);
  }

  const v1::Registry& registry_;
  const absl::Time now_;
  std::vector<PolicyProblem>* const problems_;
  int errors_ = 0;
  bool muted_ = false;
  bool tolerate_secret_ = false;
  absl::flat_hash_set<std::string> agencies_;
  absl::flat_hash_map<std::string, ConsumerSet> groups_;
};

}  // namespace dx::policy::internal

#endif  // DX_POLICY_INTERNAL_RULE_COMPILER_H_
