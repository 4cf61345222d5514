// The log lines of the libraries we link, gRPC and protobuf, go through
// LogEvent: they follow log_format (a JSON log stays one object per line)
// and name their library ("component": "grpc" or "protobuf"). Lines that a
// stranger can cause are budgeted (LogBudget): gRPC writes an error line
// for every failed TLS handshake, protobuf one for every message with
// invalid UTF-8 (found by fuzz_signed_request); past the budget they are
// counted, and the next line written says how many were left out. gRPC's
// debug and info lines, which appear only when an operator asks for them
// (GRPC_VERBOSITY), and a line written just before the process aborts
// (a failed gRPC assertion, protobuf's FATAL) always go through.
#ifndef DX_COMMON_LIBRARY_LOGS_H_
#define DX_COMMON_LIBRARY_LOGS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/clock.h"

namespace dx {

// gRPC error lines written per minute; past it they are counted.
inline constexpr int kGrpcErrorLinesPerMinute = 20;
// Protobuf lines written per minute (decoding problems come one per bad
// message).
inline constexpr int kProtobufLinesPerMinute = 1;

// Call once at start, before serving (before SetLogFormat is fine: the
// format is read at each line). `clock` (tests pass their own) must outlive
// the process's logging.
void RouteLibraryLogs(const Clock* clock = SystemClock::Get());

// `message` on one line: control characters (a line break a peer's bytes
// could bring into a library's message) become spaces, so a text log line
// cannot be forged.
std::string OneLine(absl::string_view message);

}  // namespace dx

#endif  // DX_COMMON_LIBRARY_LOGS_H_
