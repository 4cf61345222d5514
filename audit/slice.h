// RocksDB slices as absl::string_view (Debian's Abseil has its own
// string_view, distinct from std::string_view).
#ifndef DX_AUDIT_SLICE_H_
#define DX_AUDIT_SLICE_H_

#include <rocksdb/slice.h>

#include "absl/strings/string_view.h"

namespace dx::audit {

inline absl::string_view View(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace dx::audit

#endif  // DX_AUDIT_SLICE_H_
