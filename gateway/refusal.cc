#include "gateway/refusal.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "dx/v1/exchange.pb.h"
#include "rpc/status.h"

namespace dx::gateway {

grpc::Status ErrorStatus(const Refusal& r, const std::string& request_id,
                         const audit::AppendResult* receipt,
                         const std::string& node_id) {
  v1::ErrorDetail detail;
  detail.set_reason(r.reason);
  detail.set_message(r.message);
  detail.set_legal_basis(r.legal_basis);
  detail.set_policy_rule_id(r.rule_id);
  detail.set_request_id(request_id);
  if (receipt != nullptr) {
    v1::AuditReceipt* out = detail.mutable_receipt();
    out->set_sequence_number(receipt->sequence_number);
    out->set_record_hash(receipt->record_hash);
    out->set_node_id(node_id);
  }
  // In a google.rpc.Status-compatible RpcStatus, so that standard tooling
  // decodes the grpc-status-details-bin trailer.
  v1::RpcStatus status;
  status.set_code(static_cast<int>(r.code));
  status.set_message(r.message);
  status.add_details()->PackFrom(detail);
  return grpc::Status(rpc::ToGrpcCode(r.code), r.message,
                      status.SerializeAsString());
}

Refusal AuditFailure(const absl::Status& s) {
  return Refusal::Of(
      absl::StatusCode::kUnavailable, v1::REASON_AUDIT_UNAVAILABLE,
      absl::StrCat("the gateway cannot record the exchange in its audit log, "
                   "so it serves nothing; retry later (",
                   s.message(), ")"));
}

Refusal ReplayStoreFailure(const absl::Status& s) {
  return Refusal::Of(
      absl::StatusCode::kUnavailable, v1::REASON_REPLAY_STORE_UNAVAILABLE,
      absl::StrCat("the gateway cannot confirm that this request id and nonce "
                   "are new, so it serves nothing; retry later with a new "
                   "request (",
                   s.message(), ")"));
}

Refusal ReplayRefusal(const std::string& request_id) {
  return Refusal::Of(
      absl::StatusCode::kFailedPrecondition, v1::REASON_REPLAY,
      absl::StrCat("request_id ", Quote(request_id),
                   " or its nonce was already used; send a new request with "
                   "a new id and nonce"));
}

Refusal InternalFailure(const absl::Status& s) {
  return Refusal::Of(absl::StatusCode::kInternal, v1::REASON_INTERNAL,
                     std::string(s.message()));
}

Refusal ShuttingDown() {
  return Refusal::Of(absl::StatusCode::kUnavailable,
                     v1::REASON_GATEWAY_UNAVAILABLE,
                     "the gateway is shutting down; retry shortly");
}

Refusal Overloaded(uint32_t max_in_flight) {
  return Refusal::Of(
      absl::StatusCode::kResourceExhausted, v1::REASON_GATEWAY_UNAVAILABLE,
      absl::StrCat("the gateway is at its limit of ", max_in_flight,
                   " exchanges in flight; retry in a moment with a new "
                   "request"));
}

Refusal AnswerTooLarge(uint64_t max_answer_bytes, const std::string& detail) {
  return Refusal::Of(
      absl::StatusCode::kResourceExhausted, v1::REASON_ANSWER_TOO_LARGE,
      absl::StrCat("the answer is larger than the gateway sends (",
                   max_answer_bytes,
                   " bytes, max_response_bytes); ask for fewer records or "
                   "fields (max_records), or use Stream",
                   detail.empty() ? "" : absl::StrCat(" (", detail, ")")));
}

Refusal RequestTooLarge(uint64_t size, uint64_t max_request_bytes) {
  return Refusal::Of(
      absl::StatusCode::kResourceExhausted, v1::REASON_REQUEST_TOO_LARGE,
      absl::StrCat("the request is ", size,
                   " bytes; this gateway accepts at most ", max_request_bytes,
                   " (max_request_bytes): send fewer fields or a shorter "
                   "query, purpose or legal basis, or split the request"));
}

Refusal AdapterFailure(int grpc_code, const std::string& message,
                       absl::Duration timeout) {
  const absl::StatusCode code = rpc::FromGrpcCode(grpc_code);
  switch (code) {
    case absl::StatusCode::kDeadlineExceeded:
      return Refusal::Of(
          absl::StatusCode::kDeadlineExceeded, v1::REASON_ADAPTER_TIMEOUT,
          absl::StrCat(
              "the provider's adapter did not answer within ",
              absl::FormatDuration(timeout),
              " (or your deadline or expires_at came first); retry later"));
    case absl::StatusCode::kUnavailable:
      return Refusal::Of(
          absl::StatusCode::kUnavailable, v1::REASON_ADAPTER_UNAVAILABLE,
          absl::StrCat("the provider's adapter is unavailable; retry later (",
                       message, ")"));
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return Refusal::Of(
          code, v1::REASON_ADAPTER_ERROR,
          absl::StrCat("the provider's adapter refused the query: ", message));
    case absl::StatusCode::kCancelled:
      return Refusal::Of(absl::StatusCode::kCancelled, v1::REASON_ADAPTER_ERROR,
                         "the call was cancelled");
    default:
      return Refusal::Of(absl::StatusCode::kUnavailable,
                         v1::REASON_ADAPTER_ERROR,
                         absl::StrCat("the provider's adapter failed (code ",
                                      grpc_code, ": ", message, ")"));
  }
}

}  // namespace dx::gateway
