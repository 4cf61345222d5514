// What every dxctl command prints and returns: exit codes, errors, JSON,
// times. One helper, so that a script can rely on all of them alike.
#ifndef DX_CLI_OUTPUT_H_
#define DX_CLI_OUTPUT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace google::protobuf {
class Message;
}

namespace dx::cli {

// Exit codes of every command.
constexpr int kExitOk = 0;
// Refused by the gateway, or failed.
constexpr int kExitFailed = 1;
// A usage error: a flag missing or malformed; nothing was sent.
constexpr int kExitUsage = 2;
// Something was checked and did not verify (a proof, a signature).
constexpr int kExitNotVerified = 3;
// dxctl subscribe: the provider no longer keeps the changes after the
// cursor (REASON_SUBSCRIPTION_RESYNC); a retry would fail the same way,
// so a script must start a new subscription instead.
constexpr int kExitResynchronise = 4;

// Prints "dxctl TOOL: message" to stderr; INVALID_ARGUMENT is a usage error
// (2), anything else a failure (1).
int Fail(absl::string_view tool, const absl::Status& status);
// A node's answer that is not OK (cli/remote.h): "CODE: message", and a
// failure (1) whatever the code, since the node, not the command line,
// refused.
int FailRpc(absl::string_view tool, const absl::Status& status);

// Proto field names (snake_case), one line; `pretty` indents.
std::string Json(const google::protobuf::Message& message, bool pretty = false);

// "2026-11-23 08:00:00" (UTC) from Unix microseconds.
std::string FormatTime(int64_t micros);

// A time given on the command line: RFC 3339, a date (2026-11-23), or an
// age (2h, 30m) meaning that long ago; empty is 0. Errors name `flag`.
absl::StatusOr<int64_t> ParseWhen(const std::string& text,
                                  absl::string_view flag);

}  // namespace dx::cli

#endif  // DX_CLI_OUTPUT_H_
