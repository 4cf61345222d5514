// Missing values in records: a Row lists the indexes of its missing values
// in `nulls` (records.proto), each holding the empty string for readers
// that predate the field. These helpers keep every writer and reader on
// the same rule.
#ifndef DX_COMMON_RECORDS_H_
#define DX_COMMON_RECORDS_H_

#include <algorithm>
#include <string>
#include <utility>

#include "dx/v1/records.pb.h"

namespace dx {

// True when value `index` of `row` is missing. Rows have few nulls, so a
// scan; a row with none costs one size check.
inline bool IsNull(const v1::Row& row, int index) {
  if (row.nulls_size() == 0) return false;
  const auto& n = row.nulls();
  return std::find(n.begin(), n.end(), static_cast<uint32_t>(index)) != n.end();
}

// Appends a missing value.
inline void AddNull(v1::Row* row) {
  row->add_nulls(static_cast<uint32_t>(row->values_size()));
  row->add_values();
}

// Appends a value, or a missing one when `missing`.
inline void AddValue(v1::Row* row, std::string value, bool missing) {
  if (missing) {
    AddNull(row);
  } else {
    row->add_values(std::move(value));
  }
}

}  // namespace dx

#endif  // DX_COMMON_RECORDS_H_
