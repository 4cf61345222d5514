// Fuzzes what the gateway does with an adapter's answer: the projection of
// decoded batches and the scan of still-encoded rows (TakeProjectedRaw).
// Whatever the adapter sends, only allowed columns may come out.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gateway/record_filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> allowed = {"citizen_id", "full_name"};
  dx::v1::RawRecordBatch raw, out;
  if (raw.ParseFromArray(data, static_cast<int>(size))) {
    auto n = dx::gateway::TakeProjectedRaw(&raw, allowed, 5, &out);
    if (n.ok()) {
      dx::v1::RecordBatch check;
      // What passes must decode, hold only allowed columns, and respect
      // the row limit.
      if (!check.ParseFromString(out.SerializeAsString())) std::abort();
      if (check.rows_size() > 5) std::abort();
      for (const auto& c : check.columns()) {
        if (c != allowed[0] && c != allowed[1]) std::abort();
      }
      for (const auto& row : check.rows()) {
        if (row.values_size() > check.columns_size()) std::abort();
        // A missing value names a value that is there, and empty.
        for (uint32_t n : row.nulls()) {
          if (static_cast<int>(n) >= row.values_size() ||
              !row.values(n).empty()) {
            std::abort();
          }
        }
      }
    }
  }
  dx::v1::RecordBatch batch, projected;
  if (batch.ParseFromArray(data, static_cast<int>(size))) {
    dx::gateway::ProjectBatch(batch, allowed, 0, &projected);
  }
  return 0;
}
