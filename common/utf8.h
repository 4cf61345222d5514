// UTF-8 validation for values that cross a trust boundary (rows from an
// adapter, query values sent to a database).
#ifndef DX_COMMON_UTF8_H_
#define DX_COMMON_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace dx {

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF),
// with a fast path for ASCII.
inline bool IsValidUtf8(const unsigned char* s, size_t n) {
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

inline bool IsValidUtf8(absl::string_view s) {
  return IsValidUtf8(reinterpret_cast<const unsigned char*>(s.data()),
                     s.size());
}

}  // namespace dx

#endif  // DX_COMMON_UTF8_H_
