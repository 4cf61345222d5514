// Key layouts of the audit column families (see StateDb's Cf and
// docs/AUDIT.md). Every index key ends with the record's big-endian sequence
// number, so an index scan yields sequence numbers directly.
#ifndef DX_AUDIT_KEYS_H_
#define DX_AUDIT_KEYS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "audit/state_db.h"
#include "common/bytes.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

using ::dx::DecodeBigEndian64;
using ::dx::EncodeBigEndian64;

std::string TreeNodeKey(int level, uint64_t index);

// The index entries of one record: (column family, key).
std::vector<std::pair<Cf, std::string>> IndexEntries(
    const v1::AuditRecord& record, uint64_t seq);

// The key prefix of an index for one value ("consumer 0x00"), and the
// [begin, end) key range of that prefix within a time range.
std::string IndexPrefix(Cf index, absl::string_view value);
std::pair<std::string, std::string> TimeRange(const std::string& prefix,
                                              int64_t from_micros,
                                              int64_t to_micros);

// The sequence number at the end of an index key.
uint64_t SequenceOfIndexKey(absl::string_view key);

}  // namespace dx::audit

#endif  // DX_AUDIT_KEYS_H_
