#include "rpc/status.h"

#include <gtest/gtest.h>

#include <string>

namespace dx::rpc {
namespace {

// Every code, both ways, by name: a mapping that drifted (an offset, a
// swapped pair) fails here.
TEST(StatusTest, EveryCodeRoundTripsWithItsName) {
  for (int c = 0; c <= 16; ++c) {
    const absl::StatusCode code = FromGrpcCode(c);
    EXPECT_EQ(static_cast<int>(ToGrpcCode(code)), c);
    EXPECT_FALSE(absl::StatusCodeToString(code).empty()) << c;
  }
  EXPECT_EQ(ToGrpcCode(absl::StatusCode::kPermissionDenied),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcCode(absl::StatusCode::kUnauthenticated),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(FromGrpcCode(grpc::StatusCode::RESOURCE_EXHAUSTED),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromGrpcCode(grpc::StatusCode::DATA_LOSS),
            absl::StatusCode::kDataLoss);
}

TEST(StatusTest, ANumberOutsideGrpcCodesIsUnknown) {
  EXPECT_EQ(FromGrpcCode(-1), absl::StatusCode::kUnknown);
  EXPECT_EQ(FromGrpcCode(17), absl::StatusCode::kUnknown);
  EXPECT_EQ(FromGrpcCode(1 << 30), absl::StatusCode::kUnknown);
}

TEST(StatusTest, StatusesKeepCodeAndMessage) {
  grpc::Status g = ToGrpcStatus(absl::NotFoundError("no such record 7"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(g.error_message(), "no such record 7");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());

  absl::Status a = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stale", "details"));
  EXPECT_EQ(a, absl::FailedPreconditionError("stale"));
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusTest, HandleRunsTheBodyOnlyForAnAdmittedCaller) {
  int ran = 0;
  grpc::Status refused =
      Handle(absl::StatusOr<std::string>(absl::PermissionDeniedError("no")),
             [&](const std::string&) {
               ++ran;
               return absl::OkStatus();
             });
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ran, 0);

  std::string seen;
  grpc::Status failed =
      Handle(absl::StatusOr<std::string>("alice"), [&](const std::string& who) {
        seen = who;
        return absl::InvalidArgumentError("bad");
      });
  EXPECT_EQ(seen, "alice");
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(failed.error_message(), "bad");
}

TEST(StatusTest, ReplyMovesTheAnswerOrGivesTheError) {
  std::string out = "untouched";
  EXPECT_TRUE(Reply(absl::StatusOr<std::string>("answer"), &out).ok());
  EXPECT_EQ(out, "answer");
  out = "untouched";
  EXPECT_EQ(
      Reply(absl::StatusOr<std::string>(absl::InternalError("x")), &out).code(),
      absl::StatusCode::kInternal);
  EXPECT_EQ(out, "untouched");
}

}  // namespace
}  // namespace dx::rpc
