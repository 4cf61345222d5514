#include "common/library_logs.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/log_budget.h"

namespace dx {
namespace {

// Set by RouteLibraryLogs before the hooks are; an earlier pair is leaked,
// not freed, as a library thread may be using it (and libraries may log
// while the process exits).
std::atomic<LogBudget*> g_grpc_budget{nullptr};
std::atomic<LogBudget*> g_protobuf_budget{nullptr};

// "ssl_transport_security.cc:1420": the file's name, not the build's path.
std::string Source(absl::string_view file, int line) {
  const size_t slash = file.find_last_of('/');
  if (slash != absl::string_view::npos) file.remove_prefix(slash + 1);
  return absl::StrCat(file, ":", line);
}

void Write(absl::string_view component, absl::string_view level,
           absl::string_view message, absl::string_view file, int line,
           uint64_t suppressed_before) {
  std::vector<LogField> fields = {{"source", Source(file, line)}};
  if (suppressed_before > 0) {
    fields.push_back({"suppressed_before", suppressed_before});
  }
  LogEvent(component, level, OneLine(message), fields);
}

void GrpcLine(gpr_log_func_args* args) {
  const bool error = args->severity == GPR_LOG_SEVERITY_ERROR;
  // GPR_ASSERT writes this, then aborts: the reason must be seen.
  const bool aborting = absl::StartsWith(args->message, "assertion failed");
  uint64_t suppressed = 0;
  if (error && !aborting && !g_grpc_budget.load()->Take(&suppressed)) return;
  Write("grpc",
        error                                     ? "error"
        : args->severity == GPR_LOG_SEVERITY_INFO ? "info"
                                                  : "debug",
        args->message, args->file, args->line, suppressed);
}

void ProtobufLine(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  const bool fatal = level >= google::protobuf::LOGLEVEL_FATAL;
  uint64_t suppressed = 0;
  if (!fatal && !g_protobuf_budget.load()->Take(&suppressed)) return;
  Write("protobuf",
        level == google::protobuf::LOGLEVEL_INFO      ? "info"
        : level == google::protobuf::LOGLEVEL_WARNING ? "warning"
                                                      : "error",
        message, file, line, suppressed);
}

}  // namespace

std::string OneLine(absl::string_view message) {
  std::string out(message);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  // gRPC and protobuf end some messages with a line break.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void RouteLibraryLogs(const Clock* clock) {
  g_grpc_budget.store(
      new LogBudget(clock, kGrpcErrorLinesPerMinute, absl::Minutes(1)));
  g_protobuf_budget.store(
      new LogBudget(clock, kProtobufLinesPerMinute, absl::Minutes(1)));
  google::protobuf::SetLogHandler(&ProtobufLine);
  gpr_set_log_function(&GrpcLine);
}

}  // namespace dx
