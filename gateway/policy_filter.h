// Applies an allowed decision's row filter, field projection and masks to
// a batch of records on its way to the consumer. The gateway does this
// whatever the adapter returned: an adapter that sends more rows or fields
// than the policy allows never leaks them.
#ifndef DX_GATEWAY_POLICY_FILTER_H_
#define DX_GATEWAY_POLICY_FILTER_H_

#include <cstdint>
#include <string>

#include "dx/v1/records.pb.h"
#include "policy/decision.h"

namespace dx::gateway {

// True when rows must be looked at one by one (a row filter or masks);
// otherwise plain projection (record_filter.h) is enough.
bool NeedsRowWork(const policy::AccessDecision& decision);

// Copies to `out` the rows of `in` that pass the row filter (at most
// `max_rows`, 0: no limit), with the decision's fields in its order
// (columns the adapter did not return are left out) and masked values.
// When a column the filter reads is missing, no row passes (fail closed).
// `mask_key` is policy::MaskKeyFor(...) for hash masks. Returns the count.
uint64_t ApplyDecision(const policy::AccessDecision& decision,
                       const std::string& mask_key, const v1::RecordBatch& in,
                       uint64_t max_rows, v1::RecordBatch* out);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_POLICY_FILTER_H_
