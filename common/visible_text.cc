// Writes hidden and control code points visibly (visible_text.h).
#include "common/visible_text.h"

#include "absl/strings/str_format.h"

namespace dx {

bool IsHiddenCodePoint(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x00AD ||
         cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 ||
         cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x3164 || cp == 0xFEFF ||
         cp == 0xFFA0 || (cp >= 0xE0000 && cp <= 0xE007F);
}

namespace {

// Decodes one UTF-8 code point at text[i]; returns its length, or 0 when
// the bytes there are not well-formed UTF-8 (overlong, surrogate, cut).
size_t DecodeOne(absl::string_view text, size_t i, char32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  size_t len;
  char32_t min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b(i + k) & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

// VisibleText, and with `ascii_only` every code point past ASCII named too.
std::string Visible(absl::string_view text, bool ascii_only) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const size_t len = DecodeOne(text, i, &cp);
    if (len == 0) {
      absl::StrAppendFormat(&out, "<0x%02X>",
                            static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (IsHiddenCodePoint(cp) || (ascii_only && cp > 0x7F)) {
      absl::StrAppendFormat(&out, "<U+%04X>", static_cast<uint32_t>(cp));
    } else {
      out.append(text.data() + i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace

std::string VisibleText(absl::string_view text) { return Visible(text, false); }

std::string VisibleCode(absl::string_view code) { return Visible(code, true); }

}  // namespace dx
