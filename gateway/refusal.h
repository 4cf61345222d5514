// Refusal: why an exchange is refused or failed, and how each kind of
// failure maps to it (the gRPC code as absl's, the stable reason code,
// and a message that says what to do). ErrorStatus() turns one into the
// gRPC status the consumer gets, with a dx.v1.ErrorDetail in its details:
// this is the one place where absl codes become gRPC codes.
#ifndef DX_GATEWAY_REFUSAL_H_
#define DX_GATEWAY_REFUSAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "dx/v1/errors.pb.h"

namespace grpc {
class Status;
}

namespace dx::gateway {

struct Refusal {
  absl::StatusCode code = absl::StatusCode::kOk;
  v1::ReasonCode reason = v1::REASON_UNSPECIFIED;
  std::string message;
  std::string legal_basis;
  std::string rule_id;
  bool refused() const { return code != absl::StatusCode::kOk; }

  static Refusal Of(absl::StatusCode code, v1::ReasonCode reason,
                    std::string message) {
    Refusal r;
    r.code = code;
    r.reason = reason;
    r.message = std::move(message);
    return r;
  }
};

// The gRPC status of a refusal: code, message, and an ErrorDetail with the
// request id and, when the refusal reached the audit log, its receipt.
grpc::Status ErrorStatus(const Refusal& r, const std::string& request_id,
                         const audit::AppendResult* receipt,
                         const std::string& node_id);

// The audit log could not record the exchange: nothing is served.
Refusal AuditFailure(const absl::Status& s);
// The replay store could not tell whether the request is new.
Refusal ReplayStoreFailure(const absl::Status& s);
// The request id or nonce was already used.
Refusal ReplayRefusal(const std::string& request_id);
// A bug or an environment failure inside the gateway.
Refusal InternalFailure(const absl::Status& s);
// The gateway is shutting down.
Refusal ShuttingDown();
// More than `max_in_flight` exchanges are in flight.
Refusal Overloaded(uint32_t max_in_flight);
// The adapter call failed with `code` and `message` (gRPC's).
// What a signed answer adds to its records (envelope, signature,
// certificate), with room to spare.
inline constexpr uint64_t kSignedAnswerOverhead = 64 << 10;
// The records' bytes that fit in an answer of `max_answer_bytes`.
inline uint64_t AnswerBudget(uint64_t max_answer_bytes) {
  return max_answer_bytes > 2 * kSignedAnswerOverhead
             ? max_answer_bytes - kSignedAnswerOverhead
             : max_answer_bytes / 2;
}

// An answer larger than the gateway sends (max_response_bytes): refused
// with RESOURCE_EXHAUSTED and REASON_ANSWER_TOO_LARGE, and audited so.
Refusal AnswerTooLarge(uint64_t max_answer_bytes, const std::string& detail);

// How far above max_request_bytes gRPC's own receive limit is set: a
// request up to max_request_bytes + this reaches the admission and gets
// RequestTooLarge (an ErrorDetail, audited); a larger one is refused by
// gRPC before any handler, with RESOURCE_EXHAUSTED and no detail. The
// headroom is what a flood may make the gateway hold per message beyond
// the limit, so it is a fixed amount, not a multiple.
inline constexpr uint64_t kRequestSizeHeadroom = 1 << 20;

// A request larger than max_request_bytes: RESOURCE_EXHAUSTED with
// REASON_REQUEST_TOO_LARGE, audited.
Refusal RequestTooLarge(uint64_t size, uint64_t max_request_bytes);

Refusal AdapterFailure(int grpc_code, const std::string& message,
                       absl::Duration timeout);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REFUSAL_H_
