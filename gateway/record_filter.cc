#include "gateway/record_filter.h"

#include <cstring>

#include "common/records.h"
#include "common/utf8.h"

namespace dx::gateway {

bool IsIdentity(const v1::RecordBatch& in,
                const std::vector<std::string>& allowed, uint64_t max_rows) {
  if (static_cast<size_t>(in.columns_size()) != allowed.size()) return false;
  if (max_rows != 0 && static_cast<uint64_t>(in.rows_size()) > max_rows) {
    return false;
  }
  for (size_t i = 0; i < allowed.size(); ++i) {
    if (in.columns(i) != allowed[i]) return false;
  }
  for (const v1::Row& row : in.rows()) {
    if (static_cast<size_t>(row.values_size()) != allowed.size()) return false;
    for (uint32_t n : row.nulls()) {  // a null names a value, and it is empty
      if (n >= allowed.size() || !row.values(n).empty()) return false;
    }
  }
  return true;
}

uint64_t TakeProjected(v1::RecordBatch* in,
                       const std::vector<std::string>& allowed,
                       uint64_t max_rows, v1::RecordBatch* out) {
  if (IsIdentity(*in, allowed, max_rows)) {
    out->Swap(in);  // exactly what may be sent: no copy
    return static_cast<uint64_t>(out->rows_size());
  }
  return ProjectBatch(*in, allowed, max_rows, out);
}

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
      if (i >= row.values_size() || IsNull(row, i)) {
        AddNull(dst);  // a value the adapter did not send is missing
      } else {
        dst->add_values(row.values(i));
      }
    }
    ++copied;
  }
  return copied;
}

}  // namespace dx::gateway

namespace dx::gateway {
namespace {

bool ReadVarint(const char*& p, const char* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(*p++);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// True when `row` encodes exactly `values` strings in field 1, valid UTF-8,
// and in field 2 (packed or not) only indexes of empty values among the
// first 64 (wider rows with nulls take the slow path), and nothing else.
bool IsPlainRow(const std::string& row, size_t values) {
  const char* p = row.data();
  const char* end = p + row.size();
  size_t count = 0;
  uint64_t empty = 0, nulls = 0;  // bit i: value i is empty / is null
  auto null_at = [&nulls](uint64_t index) {
    if (index >= 64) return false;
    nulls |= uint64_t{1} << index;
    return true;
  };
  while (p < end) {
    uint64_t tag, len;
    if (!ReadVarint(p, end, &tag)) return false;
    if (tag == 0x10) {  // field 2, one varint
      uint64_t index;
      if (!ReadVarint(p, end, &index) || !null_at(index)) return false;
      continue;
    }
    if (tag != 0x0A && tag != 0x12) return false;  // field 1 or 2, LEN
    if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) {
      return false;
    }
    if (tag == 0x12) {  // field 2, packed
      const char* packed_end = p + len;
      while (p < packed_end) {
        uint64_t index;
        if (!ReadVarint(p, packed_end, &index) || !null_at(index)) {
          return false;
        }
      }
      continue;
    }
    if (!IsValidUtf8(reinterpret_cast<const unsigned char*>(p), len)) {
      return false;
    }
    if (len == 0 && count < 64) empty |= uint64_t{1} << count;
    p += len;
    ++count;
  }
  return count == values && (nulls & ~empty) == 0;
}

}  // namespace

absl::StatusOr<uint64_t> TakeProjectedRaw(
    v1::RawRecordBatch* in, const std::vector<std::string>& allowed,
    uint64_t max_rows, v1::RawRecordBatch* out) {
  bool identity =
      static_cast<size_t>(in->columns_size()) == allowed.size() &&
      (max_rows == 0 || static_cast<uint64_t>(in->rows_size()) <= max_rows);
  for (size_t i = 0; identity && i < allowed.size(); ++i) {
    identity = in->columns(i) == allowed[i];
  }
  for (int r = 0; identity && r < in->rows_size(); ++r) {
    identity = IsPlainRow(in->rows(r), allowed.size());
  }
  if (identity) {
    out->Swap(in);
    return static_cast<uint64_t>(out->rows_size());
  }
  // The slow path: decode, project, encode.
  v1::RecordBatch decoded, projected;
  *decoded.mutable_columns() = in->columns();
  for (const std::string& row : in->rows()) {
    if (!decoded.add_rows()->ParseFromString(row)) {
      return absl::DataLossError(
          "the adapter sent a record that does not decode as dx.v1.Row");
    }
  }
  const uint64_t n = ProjectBatch(decoded, allowed, max_rows, &projected);
  out->Clear();
  *out->mutable_columns() = projected.columns();
  for (const v1::Row& row : projected.rows())
    row.SerializeToString(out->add_rows());
  return n;
}

}  // namespace dx::gateway
