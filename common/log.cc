#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace dx {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not one.
size_t Utf8Length(absl::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80           ? 1
             : (c >> 5) == 0x6  ? 2
             : (c >> 4) == 0xE  ? 3
             : (c >> 3) == 0x1E ? 4
                                : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  // Overlong forms and surrogates are not UTF-8 either.
  const auto c1 = static_cast<unsigned char>(n > 1 ? s[i + 1] : 0);
  if ((n == 2 && c < 0xC2) || (n == 3 && c == 0xE0 && c1 < 0xA0) ||
      (n == 3 && c == 0xED && c1 >= 0xA0) ||
      (n == 4 && c == 0xF0 && c1 < 0x90) ||
      (n == 4 && (c > 0xF4 || (c == 0xF4 && c1 >= 0x90)))) {
    return 0;
  }
  return n;
}

// A value that needs no quotes in a text line: nothing a reader (or a log
// parser) could take for the end of the value or of the line.
bool Plain(absl::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("._:/@+-,").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format.store(format); }

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name.empty() || name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat(
      "log_format must be \"text\" or \"json\", not \"", name, "\""));
}

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      ++i;
    } else if (const size_t n = Utf8Length(text, i); n > 0) {
      out.append(text.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  out += '"';
  return out;
}

std::string FormatLogLine(LogFormat format, absl::string_view component,
                          absl::string_view level, absl::string_view message,
                          const std::vector<LogField>& fields) {
  if (format == LogFormat::kText) {
    std::string line = absl::StrCat(component, ": ");
    if (level != "info") absl::StrAppend(&line, level, ": ");
    absl::StrAppend(&line, message);
    for (const LogField& f : fields) {
      absl::StrAppend(&line, " ", f.key, "=",
                      Plain(f.value) ? f.value : JsonQuote(f.value));
    }
    return line;
  }
  std::string line = absl::StrCat(
      "{\"time\":",
      JsonQuote(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                 absl::UTCTimeZone())),
      ",\"level\":", JsonQuote(level), ",\"component\":", JsonQuote(component),
      ",\"msg\":", JsonQuote(message));
  for (const LogField& f : fields) {
    absl::StrAppend(&line, ",", JsonQuote(f.key), ":",
                    f.number ? f.value : JsonQuote(f.value));
  }
  line += "}";
  return line;
}

void LogEvent(absl::string_view component, absl::string_view level,
              absl::string_view message, const std::vector<LogField>& fields) {
  std::string line =
      FormatLogLine(g_format.load(), component, level, message, fields);
  line += '\n';
  // One write per line: lines from several threads never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace dx
