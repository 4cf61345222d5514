// Records out of a provider's JSON answer: the array (or object) at the
// records pointer, and each field at its own pointer inside a record.
// Numbers keep the text the service wrote (12345678901234567890.10 is not
// rounded through a double); null or absent is a missing value.
#ifndef DX_ADAPTERS_REST_JSON_RECORDS_H_
#define DX_ADAPTERS_REST_JSON_RECORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dx/v1/records.pb.h"

namespace dx::adapters {

struct JsonPage {
  std::vector<v1::Row> rows;
  // The value at the next-page pointer, when asked and present.
  std::string next;
};

// INTERNAL naming the byte offset for a body that is not JSON (or nests
// deeper than 64 levels), or when the records pointer does not lead to an
// array or object.
absl::StatusOr<JsonPage> ParseJsonRecords(
    absl::string_view body, const std::string& records_pointer,
    const std::vector<std::string>& field_pointers,
    const std::string& next_pointer);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_JSON_RECORDS_H_
