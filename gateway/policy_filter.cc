#include "gateway/policy_filter.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/records.h"
#include "policy/masking.h"
#include "policy/row_filter.h"

namespace dx::gateway {

bool NeedsRowWork(const policy::AccessDecision& d) {
  return d.row_filter != nullptr || !d.masks.empty();
}

uint64_t ApplyDecision(const policy::AccessDecision& d,
                       const std::string& mask_key, const v1::RecordBatch& in,
                       uint64_t max_rows, v1::RecordBatch* out) {
  out->Clear();
  absl::flat_hash_map<std::string, int> column;
  for (int i = 0; i < in.columns_size(); ++i) column.emplace(in.columns(i), i);
  // Output columns, and the mask of each (or null).
  std::vector<int> source;
  std::vector<const policy::MaskSpec*> masks;
  for (const std::string& f : d.fields) {
    auto it = column.find(f);
    if (it == column.end()) continue;
    out->add_columns(f);
    source.push_back(it->second);
    const policy::MaskSpec* mask = nullptr;
    for (const auto& m : d.masks)
      if (m.field == f) mask = &m;
    masks.push_back(mask);
  }
  std::vector<int> filter_columns;
  if (d.row_filter) {
    for (const std::string& f : d.row_filter->fields()) {
      auto it = column.find(f);
      if (it == column.end()) return 0;  // cannot check: show nothing
      filter_columns.push_back(it->second);
    }
  }
  static const std::string kEmpty;
  uint64_t count = 0;
  for (const v1::Row& row : in.rows()) {
    if (max_rows != 0 && count >= max_rows) break;
    auto value = [&row](int c) -> const std::string& {
      return c < row.values_size() ? row.values(c) : kEmpty;
    };
    auto missing = [&row](int c) {
      return c >= row.values_size() || IsNull(row, c);
    };
    // A row filter over a missing value does not match: the record is
    // withheld (fail closed, as SQL's unknown).
    bool filter_value_missing = false;
    for (int c : filter_columns) filter_value_missing |= missing(c);
    if (filter_value_missing) continue;
    if (d.row_filter && !d.row_filter->Matches(
                            [&](size_t i) -> absl::string_view {
                              return value(filter_columns[i]);
                            },
                            d.filter_consumer_values)) {
      continue;
    }
    v1::Row* o = out->add_rows();
    for (size_t i = 0; i < source.size(); ++i) {
      if (missing(source[i])) {  // nothing to mask: stays missing
        AddNull(o);
        continue;
      }
      const std::string& v = value(source[i]);
      o->add_values(masks[i] ? policy::MaskValue(*masks[i], v, mask_key) : v);
    }
    ++count;
  }
  return count;
}

}  // namespace dx::gateway
