#include "rpc/status.h"

#include <string>

namespace dx::rpc {

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  // Every absl code is one of gRPC's, with the same number.
  return static_cast<grpc::StatusCode>(code);
}

absl::StatusCode FromGrpcCode(int code) {
  if (code < grpc::StatusCode::OK || code > grpc::StatusCode::UNAUTHENTICATED) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(code);
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(ToGrpcCode(s.code()), std::string(s.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(FromGrpcCode(s.error_code()), s.error_message());
}

}  // namespace dx::rpc
