// VisibleText: a string made safe to show to a person. The audit log keeps
// what consumers sent (purpose, legal basis, request ids, agencies claimed),
// and a bidirectional control (U+202E turns "txt.exe" into "exe.txt"), a
// zero-width character (two "identical" agency codes) or a terminal
// control (ESC, a newline that forges a line) would make a view lie.
// Each such code point is written as <U+XXXX>, and each byte that is not
// UTF-8 as <0xNN>; everything else is kept. For text meant for people
// only: JSON and CSV exports keep the exact bytes.
#ifndef DX_COMMON_VISIBLE_TEXT_H_
#define DX_COMMON_VISIBLE_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace dx {

// True for the code points VisibleText writes as <U+XXXX>: C0 and C1
// controls and DEL, the bidirectional controls (U+061C, U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069), the zero-width and invisible characters
// (U+200B-U+200D, U+2060-U+2064, U+FEFF, the soft hyphen U+00AD, U+034F,
// U+180E, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, and the tag
// characters U+E0000-U+E007F that can carry hidden ASCII) and the line and
// paragraph separators (U+2028, U+2029). The console's app.js and the
// console e2e test hold the same list.
bool IsHiddenCodePoint(char32_t cp);

std::string VisibleText(absl::string_view text);

// For codes that are ASCII by their standard (agency codes, QCVN 102:2016:
// digits, dots and capital letters; system and dataset ids): as
// VisibleText, and every code point past ASCII is written as <U+XXXX> too,
// so that a claim of a look-alike code (Cyrillic "Н" for "H") never reads
// as the agency itself.
std::string VisibleCode(absl::string_view code);

}  // namespace dx

#endif  // DX_COMMON_VISIBLE_TEXT_H_
