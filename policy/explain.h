// A what-if answered by a snapshot: the decision for an ExplainRequest, with
// the trace of every rule considered. Shared by the PolicyAdmin service and
// `dxctl policy explain/test` offline. Counts no quota.
#ifndef DX_POLICY_EXPLAIN_H_
#define DX_POLICY_EXPLAIN_H_

#include "absl/time/time.h"
#include "dx/v1/policy.pb.h"
#include "policy/snapshot.h"

namespace dx::policy {

// `now` is used when the request names no time.
v1::ExplainResponse Explain(const PolicySnapshot& snapshot,
                            const v1::ExplainRequest& request, absl::Time now);

}  // namespace dx::policy

#endif  // DX_POLICY_EXPLAIN_H_
