// The process's log: one line per event on stderr, as text for people
// ("dxgate: message key=value") or, with log_format: json, one JSON object
// per line for log collectors ({"time":..., "level":..., "component":...,
// "msg":..., fields...}). Callers pass only what may be logged: never a
// data subject id nor a record value (the audit log holds what happened;
// this log says what the process did). Thread-safe: each line is written
// whole.
#ifndef DX_COMMON_LOG_H_
#define DX_COMMON_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dx {

enum class LogFormat { kText, kJson };
void SetLogFormat(LogFormat format);

// A config's `log_format`: "text" (or empty, the default) or "json";
// anything else is an error that names the two.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

struct LogField {
  LogField(std::string k, std::string v)
      : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, const char* v) : key(std::move(k)), value(v) {}
  LogField(std::string k, int64_t v)
      : key(std::move(k)), value(std::to_string(v)), number(true) {}
  LogField(std::string k, int v) : LogField(std::move(k), int64_t{v}) {}
  LogField(std::string k, uint64_t v)
      : key(std::move(k)), value(std::to_string(v)), number(true) {}
  std::string key;
  std::string value;
  bool number = false;
};

// `level`: "info", "warning" or "error" ("debug" for a library's debug
// lines, which appear only when an operator asks for them).
void LogEvent(absl::string_view component, absl::string_view level,
              absl::string_view message,
              const std::vector<LogField>& fields = {});

// The line LogEvent writes, without the newline (for tests).
std::string FormatLogLine(LogFormat format, absl::string_view component,
                          absl::string_view level, absl::string_view message,
                          const std::vector<LogField>& fields);

// `text` as a JSON string literal, quotes included; bytes that are not
// UTF-8 become U+FFFD, so the line always parses.
std::string JsonQuote(absl::string_view text);

}  // namespace dx

#endif  // DX_COMMON_LOG_H_
