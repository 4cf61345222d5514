#include "common/library_logs.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/testing/fake_clock.h"

namespace dx {
namespace {

// The hooks are process-wide: installed once, on a clock the tests move.
FakeClock& Clock() {
  static FakeClock* clock = [] {
    auto* c = new FakeClock(absl::FromUnixSeconds(60 * 1000));
    RouteLibraryLogs(c);
    // What grpc_init sets when GRPC_VERBOSITY is not: errors only. Until
    // then gRPC prints nothing, and this test calls no grpc_init.
    gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
    return c;
  }();
  return *clock;
}

// Each stderr line written while `write` runs, parsed as JSON (a line that
// is not JSON fails the test).
template <typename F>
std::vector<nlohmann::json> JsonLines(F write) {
  SetLogFormat(LogFormat::kJson);
  ::testing::internal::CaptureStderr();
  write();
  const std::string out = ::testing::internal::GetCapturedStderr();
  SetLogFormat(LogFormat::kText);
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << "not a JSON line: " << line;
    lines.push_back(std::move(j));
  }
  return lines;
}

TEST(LibraryLogsTest, GrpcErrorsAreJsonLinesAndAFloodIsCounted) {
  Clock().Advance(absl::Minutes(1));  // a fresh budget
  const auto lines = JsonLines([] {
    gpr_log(GPR_ERROR, "Handshake failed\ndxgate: forged line %d", 1);
    for (int i = 0; i < 100; ++i) gpr_log(GPR_ERROR, "flood %d", i);
  });
  ASSERT_EQ(lines.size(), static_cast<size_t>(kGrpcErrorLinesPerMinute));
  EXPECT_EQ(lines[0]["component"], "grpc");
  EXPECT_EQ(lines[0]["level"], "error");
  EXPECT_EQ(lines[0]["msg"], "Handshake failed dxgate: forged line 1");
  EXPECT_EQ(
      lines[0]["source"].get<std::string>().rfind("library_logs_test.cc:", 0),
      0u)
      << lines[0];
  // The next minute, the first line says how many were left out.
  Clock().Advance(absl::Minutes(1));
  const auto next = JsonLines([] { gpr_log(GPR_ERROR, "after"); });
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]["suppressed_before"], 101 - kGrpcErrorLinesPerMinute);
}

TEST(LibraryLogsTest, AnAssertionAndAskedForDebugLinesAlwaysGoThrough) {
  Clock().Advance(absl::Minutes(1));
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_DEBUG);
  const auto lines = JsonLines([] {
    for (int i = 0; i < kGrpcErrorLinesPerMinute + 5; ++i) {
      gpr_log(GPR_ERROR, "flood");
    }
    gpr_log(GPR_ERROR, "assertion failed: %s", "x != nullptr");
    for (int i = 0; i < 50; ++i) gpr_log(GPR_DEBUG, "trace %d", i);
    gpr_log(GPR_INFO, "info");
  });
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  ASSERT_EQ(lines.size(),
            static_cast<size_t>(kGrpcErrorLinesPerMinute + 1 + 50 + 1));
  EXPECT_EQ(lines[kGrpcErrorLinesPerMinute]["msg"],
            "assertion failed: x != nullptr");
  EXPECT_EQ(lines[kGrpcErrorLinesPerMinute + 1]["level"], "debug");
  EXPECT_EQ(lines.back()["level"], "info");
}

TEST(LibraryLogsTest, ProtobufLinesAreJsonAndBudgeted) {
  Clock().Advance(absl::Minutes(1));
  const auto lines = JsonLines([] {
    for (int i = 0; i < 10; ++i) {
      GOOGLE_LOG(ERROR) << "String field contains invalid UTF-8 " << i;
    }
  });
  ASSERT_EQ(lines.size(), static_cast<size_t>(kProtobufLinesPerMinute));
  EXPECT_EQ(lines[0]["component"], "protobuf");
  EXPECT_EQ(lines[0]["level"], "error");
  EXPECT_EQ(lines[0]["msg"], "String field contains invalid UTF-8 0");
}

TEST(LibraryLogsTest, OneLineKeepsTextAndDropsLineBreaks) {
  EXPECT_EQ(OneLine("a\nb\r\tc\x7f"
                    "d\n"),
            "a b  c d");
  EXPECT_EQ(OneLine("Hà Nội"), "Hà Nội");
}

}  // namespace
}  // namespace dx
