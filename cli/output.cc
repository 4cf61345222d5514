#include "cli/output.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace dx::cli {

int Fail(absl::string_view tool, const absl::Status& status) {
  std::cerr << "dxctl " << tool << ": " << status.message() << "\n";
  return absl::IsInvalidArgument(status) ? kExitUsage : kExitFailed;
}

int FailRpc(absl::string_view tool, const absl::Status& status) {
  std::cerr << "dxctl " << tool << ": "
            << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kExitFailed;
}

std::string Json(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = pretty;
  std::string out;
  const auto printed =
      google::protobuf::util::MessageToJsonString(message, &out, o);
  if (printed.ok()) return out;
  // Never a silent "{}": say which message could not be shown, and why
  // (e.g. a string that is not UTF-8).
  google::protobuf::Struct error;
  (*error.mutable_fields())["dxctl_error"].set_string_value(absl::StrCat(
      "this ", message.GetDescriptor()->full_name(),
      " cannot be shown as JSON: ", std::string(printed.message())));
  out.clear();
  (void)google::protobuf::util::MessageToJsonString(error, &out, o);
  return out;
}

std::string FormatTime(int64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

absl::StatusOr<int64_t> ParseWhen(const std::string& text,
                                  absl::string_view flag) {
  if (text.empty()) return 0;
  absl::Duration age;
  if (absl::ParseDuration(text, &age)) {
    return absl::ToUnixMicros(absl::Now() - age);
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err) ||
      absl::ParseTime("%Y-%m-%d", text, &t, &err)) {
    return absl::ToUnixMicros(t);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": cannot read time '", text,
                   "' (use 2026-11-23T08:00:00Z, 2026-11-23, or 2h)"));
}

}  // namespace dx::cli
