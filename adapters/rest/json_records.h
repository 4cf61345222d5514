// Records out of a provider's JSON answer: the array (or object) at the
// records pointer, and each field at its own pointer inside a record.
// Numbers keep the text the service wrote (12345678901234567890.10 is not
// rounded through a double); null or absent is a missing value.
//
// The answer is read as a stream of events, and only what can end up in a
// row is held: the records wanted (the rest are read past), inside each
// only the values at or under a field's pointer, and the next-page link.
// So memory is bounded by what the call may return, whatever the provider
// sends (millions of `{}` records, or megabytes of values nobody asked
// for), and a budget bounds what a few records may hold.
#ifndef DX_ADAPTERS_REST_JSON_RECORDS_H_
#define DX_ADAPTERS_REST_JSON_RECORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dx/v1/records.pb.h"

namespace dx::adapters {

// The type of a value in a record, as far as the parser held it.
enum class JsonType {
  kAbsent,
  kNull,
  kBool,
  kNumber,
  kString,
  kObject,
  kArray
};

struct JsonPage {
  std::vector<v1::Row> rows;
  // Records in the answer, kept or not (page-number paging stops at a
  // page with none).
  uint64_t records_seen = 0;
  // The value at the next-page pointer, when asked and present.
  std::string next;
  // The records pointer led to an array (not to one object).
  bool records_array = false;
  // Per row kept, the type of the value at each of `shape_pointers`.
  std::vector<std::vector<JsonType>> shapes;
};

// At most this many JSON values are held for the records kept, in all.
inline constexpr uint64_t kMaxHeldJsonValues = 1 << 20;

// INTERNAL naming the byte offset for a body that is not JSON (or nests
// deeper than 64 levels), when the records pointer does not lead to an
// array or object, or when the kept records hold more than
// kMaxHeldJsonValues values. `max_rows` (0: all) is how many records are
// kept; the others are counted and skipped. `shape_pointers` (inside a
// record) ask for the type of a value without reading it into a row (a
// change feed checks that "values" is an object); only values a field
// pointer leads to or through are held, so a shape pointer must be a
// field pointer or a prefix of one (else it reads kAbsent). A number with
// a fraction or exponent is held as the text it was written in: kString.
absl::StatusOr<JsonPage> ParseJsonRecords(
    absl::string_view body, const std::string& records_pointer,
    const std::vector<std::string>& field_pointers,
    const std::string& next_pointer, uint64_t max_rows = 0,
    const std::vector<std::string>& shape_pointers = {});

// The reference tokens of a JSON pointer (RFC 6901: ~1 is '/', ~0 '~').
std::vector<std::string> PointerTokens(absl::string_view pointer);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_JSON_RECORDS_H_
