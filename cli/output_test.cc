// What every command prints and returns: exit codes, times, JSON.
#include "cli/output.h"

#include "absl/time/clock.h"
#include "dx/v1/audit.pb.h"
#include "gtest/gtest.h"

namespace dx::cli {
namespace {

TEST(OutputTest, ExitCodes) {
  EXPECT_EQ(Fail("t", absl::InvalidArgumentError("bad flag")), kExitUsage);
  EXPECT_EQ(Fail("t", absl::NotFoundError("no file")), kExitFailed);
  // A node's INVALID_ARGUMENT is the node's refusal, not a usage error.
  EXPECT_EQ(FailRpc("t", absl::InvalidArgumentError("refused")), kExitFailed);
  EXPECT_EQ(FailRpc("t", absl::PermissionDeniedError("no")), kExitFailed);
}

TEST(OutputTest, FailRpcNamesTheCode) {
  testing::internal::CaptureStderr();
  FailRpc("policy", absl::PermissionDeniedError("not an administrator"));
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "dxctl policy: PERMISSION_DENIED: not an administrator\n");
}

TEST(OutputTest, Times) {
  EXPECT_EQ(FormatTime(0), "1970-01-01 00:00:00");
  EXPECT_EQ(*ParseWhen("", "since"), 0);
  EXPECT_EQ(*ParseWhen("1970-01-02", "since"), 86400ll * 1000000);
  EXPECT_EQ(*ParseWhen("1970-01-01T00:00:01Z", "since"), 1000000);
  // An age is that long before the moment it is read.
  const int64_t before = absl::ToUnixMicros(absl::Now());
  const int64_t ago = *ParseWhen("2h", "since");
  const int64_t after = absl::ToUnixMicros(absl::Now());
  EXPECT_GE(ago, before - 7200ll * 1000000);
  EXPECT_LE(ago, after - 7200ll * 1000000);
  auto bad = ParseWhen("yesterday", "until");
  ASSERT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().message().find("--until"), std::string::npos);
}

TEST(OutputTest, JsonUsesProtoFieldNames) {
  v1::StoredRecord r;
  r.set_sequence_number(4);
  EXPECT_EQ(Json(r), R"({"sequence_number":"4"})");
}

}  // namespace
}  // namespace dx::cli
