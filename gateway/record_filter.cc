#include "gateway/record_filter.h"

#include <cstring>

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
      dst->add_values(i < row.values_size() ? row.values(i) : std::string());
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

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF),
// with a fast path for ASCII.
bool IsValidUtf8(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {  // eight ASCII bytes at a time
      uint64_t word;
      std::memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((s[i] & 0xE0) == 0xC0) {
      len = 2;
      cp = s[i] & 0x1F;
    } else if ((s[i] & 0xF0) == 0xE0) {
      len = 3;
      cp = s[i] & 0x0F;
    } else if ((s[i] & 0xF8) == 0xF0) {
      len = 4;
      cp = s[i] & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

// True when `row` encodes exactly `values` strings in field 1, valid UTF-8,
// and nothing else.
bool IsPlainRow(const std::string& row, size_t values) {
  const char* p = row.data();
  const char* end = p + row.size();
  size_t count = 0;
  while (p < end) {
    uint64_t tag, len;
    if (!ReadVarint(p, end, &tag) || tag != 0x0A) return false;  // field 1, LEN
    if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) {
      return false;
    }
    if (!IsValidUtf8(reinterpret_cast<const unsigned char*>(p), len)) {
      return false;
    }
    p += len;
    ++count;
  }
  return count == values;
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
