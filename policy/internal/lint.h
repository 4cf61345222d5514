// The lint pass of PolicySnapshot::Compile (lint.cc): warnings, never
// errors, about a compiled dataset's rules. Private to policy/.
#ifndef DX_POLICY_INTERNAL_LINT_H_
#define DX_POLICY_INTERNAL_LINT_H_

#include <string>
#include <vector>

#include "policy/internal/compiled.h"
#include "policy/snapshot.h"

namespace dx::policy {

// Appends to `warnings` (error = false) the rules of `ds` that can never
// decide (an earlier grant or a forbid takes every request they would),
// the grants that forbids cut into, and the query keys a grant does not
// let its consumers use. `path` is the dataset's path in the document
// ("datasets[3]"); each warning's path is under it.
void LintDataset(const PolicySnapshot::CompiledDataset& ds,
                 const std::string& path, std::vector<PolicyProblem>* warnings);

}  // namespace dx::policy

#endif  // DX_POLICY_INTERNAL_LINT_H_
