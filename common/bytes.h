// Byte helpers shared by every storage layout (the audit log's keys, the
// policy store's revisions): fixed-width big-endian numbers sort as
// numbers, and hex for people.
#ifndef DX_COMMON_BYTES_H_
#define DX_COMMON_BYTES_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace dx {

// 8 bytes, most significant first, so that keys sort by number.
std::string EncodeBigEndian64(uint64_t v);
// The first 8 bytes of `bytes` (fewer are read as the leading ones).
uint64_t DecodeBigEndian64(absl::string_view bytes);
// Lower-case hex.
std::string HexEncode(absl::string_view bytes);

}  // namespace dx

#endif  // DX_COMMON_BYTES_H_
