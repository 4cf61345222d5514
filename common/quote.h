// Quote: caller-supplied text echoed in a refusal's message, escaped (no
// control characters, no terminal escapes) and bounded, in single quotes.
#ifndef DX_COMMON_QUOTE_H_
#define DX_COMMON_QUOTE_H_

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dx {

inline std::string Quote(absl::string_view s) {
  std::string escaped = absl::CHexEscape(s.substr(0, 64));
  if (s.size() > 64) escaped += "...";
  return absl::StrCat("'", escaped, "'");
}

}  // namespace dx

#endif  // DX_COMMON_QUOTE_H_
