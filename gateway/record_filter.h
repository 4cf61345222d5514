// Projects record batches to the fields a consumer may read: the gateway
// filters again whatever the adapter returned, so an adapter that returns
// too much never leaks it.
#ifndef DX_GATEWAY_RECORD_FILTER_H_
#define DX_GATEWAY_RECORD_FILTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "dx/v1/records.pb.h"

namespace dx::gateway {

// Copies into `out` the columns of `in` named in `allowed`, in the order of
// `allowed` (columns the adapter did not return are left out), and at most
// `max_rows` rows (0: no limit). Rows shorter than the header are padded
// with empty values. Returns the number of rows copied.
uint64_t ProjectBatch(const v1::RecordBatch& in,
                      const std::vector<std::string>& allowed,
                      uint64_t max_rows, v1::RecordBatch* out);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_RECORD_FILTER_H_
