#include "gateway/record_filter.h"

namespace dx::gateway {

uint64_t ProjectBatch(const v1::RecordBatch& in,
                      const std::vector<std::string>& allowed,
                      uint64_t max_rows, v1::RecordBatch* out) {
  out->Clear();
  std::vector<int> source_index;
  for (const std::string& field : allowed) {
    for (int i = 0; i < in.columns_size(); ++i) {
      if (in.columns(i) == field) {
        source_index.push_back(i);
        out->add_columns(field);
        break;
      }
    }
  }
  uint64_t copied = 0;
  for (const v1::Row& row : in.rows()) {
    if (max_rows != 0 && copied >= max_rows) break;
    v1::Row* dst = out->add_rows();
    for (int i : source_index) {
      dst->add_values(i < row.values_size() ? row.values(i) : std::string());
    }
    ++copied;
  }
  return copied;
}

}  // namespace dx::gateway
