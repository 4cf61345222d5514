// The one mapping between absl::Status, which every module returns, and
// grpc::Status, which a gRPC call carries. The two share their codes (0 to
// 16, names included); these functions are the only place that says so.
// Services convert once, at their edge (Handle, Reply); clients convert a
// call's status once on its return. Plain functions, thread-safe.
#ifndef DX_RPC_STATUS_H_
#define DX_RPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dx::rpc {

// absl's code as gRPC's.
grpc::StatusCode ToGrpcCode(absl::StatusCode code);
// A gRPC code (as gRPC's enum or as the integer on the wire and in audit
// records) as absl's; a number outside gRPC's codes reads as UNKNOWN.
absl::StatusCode FromGrpcCode(int code);

// Code and message; an OK status has no message.
grpc::Status ToGrpcStatus(const absl::Status& s);
// Code and message; the binary details, if any, are dropped.
absl::Status FromGrpcStatus(const grpc::Status& s);

// Moves an answer into a handler's reply, or gives its error.
template <typename T>
absl::Status Reply(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return result.status();
  *out = *std::move(result);
  return absl::OkStatus();
}

// A service handler's whole shape: runs `body(caller)` for the caller an
// authorization step established (`who`, e.g. CallGate::Caller(ctx)) and
// returns its status as gRPC's; a refused caller gets the refusal and the
// body does not run. `body` returns absl::Status.
template <typename Caller, typename Body>
grpc::Status Handle(const absl::StatusOr<Caller>& who, Body&& body) {
  if (!who.ok()) return ToGrpcStatus(who.status());
  return ToGrpcStatus(std::forward<Body>(body)(*who));
}

}  // namespace dx::rpc

#endif  // DX_RPC_STATUS_H_
