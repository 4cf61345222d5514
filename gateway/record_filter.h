// Projects record batches to the fields a consumer may read: the gateway
// filters again whatever the adapter returned, so an adapter that returns
// too much never leaks it.
#ifndef DX_GATEWAY_RECORD_FILTER_H_
#define DX_GATEWAY_RECORD_FILTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dx/v1/records.pb.h"

namespace dx::gateway {

// Copies into `out` the columns of `in` named in `allowed`, in the order of
// `allowed` (columns the adapter did not return are left out), and at most
// `max_rows` rows (0: no limit). Rows shorter than the header are padded
// with empty values. Returns the number of rows copied.
uint64_t ProjectBatch(const v1::RecordBatch& in,
                      const std::vector<std::string>& allowed,
                      uint64_t max_rows, v1::RecordBatch* out);

// The same, consuming `in`: when `in` already holds exactly the allowed
// columns in order (what a well-behaved adapter sends) and no more rows
// than allowed, it is moved to `out` without a copy; otherwise projected.
uint64_t TakeProjected(v1::RecordBatch* in,
                       const std::vector<std::string>& allowed,
                       uint64_t max_rows, v1::RecordBatch* out);

// The same for a batch whose rows are still encoded (streams). Each row is
// scanned without decoding: exactly one value per allowed column, valid
// UTF-8, no other fields. A batch that passes is moved as is; otherwise its
// rows are decoded and projected. DATA_LOSS when a row does not decode.
absl::StatusOr<uint64_t> TakeProjectedRaw(
    v1::RawRecordBatch* in, const std::vector<std::string>& allowed,
    uint64_t max_rows, v1::RawRecordBatch* out);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_RECORD_FILTER_H_
