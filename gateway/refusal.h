// Refusal: why an exchange is refused or failed, and how each kind of
// failure maps to it (the gRPC code as absl's, the stable reason code,
// and a message that says what to do). ErrorStatus() turns one into the
// gRPC status the consumer gets, with a dx.v1.ErrorDetail in its details.
//
// The table of reason codes to gRPC codes (ReasonCodes()) is here and
// nowhere else: every v1::ReasonCode has its row, and every Refusal is
// built through Refusal::Of, which holds it to the table. The codes
// themselves become gRPC's in rpc/status.h.
#ifndef DX_GATEWAY_REFUSAL_H_
#define DX_GATEWAY_REFUSAL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "dx/v1/errors.pb.h"
#include "i18n/catalogue.h"

namespace grpc {
class Status;
}

namespace dx::gateway {

// One row of the table: the gRPC codes a reason is given with. The first
// is the reason's own (Refusal::For); the others are the few a site may
// choose instead, because the one reason covers several failures (an
// adapter's NOT_FOUND and its UNAVAILABLE are both REASON_ADAPTER_ERROR).
struct ReasonRow {
  v1::ReasonCode reason;
  std::vector<absl::StatusCode> codes;
};

// The table, one row per v1::ReasonCode, in the enum's order.
// REASON_UNSPECIFIED is a failure that is no refusal (the consumer
// cancelled). Immutable; thread-safe.
const std::vector<ReasonRow>& ReasonCodes();
// The row of `reason`; null for a number outside the enum.
const ReasonRow* ReasonRowOf(v1::ReasonCode reason);
// True when the table gives `reason` with `code`.
bool ReasonAllows(v1::ReasonCode reason, absl::StatusCode code);

struct Refusal {
  absl::StatusCode code = absl::StatusCode::kOk;
  v1::ReasonCode reason = v1::REASON_UNSPECIFIED;
  std::string message;
  std::string legal_basis;
  std::string rule_id;
  // In a federation: the platform whose gateway refused (ErrorDetail.
  // platform_id); set at the close from the node's platform.
  std::string platform_id;
  // The catalogue entry of the LocalizedMessages (i18n/*.json) when it is
  // not the reason's own ("refusal.<REASON>"), with the values of its
  // placeholders: the detail of this refusal (a request id, a size).
  std::string l10n_key;
  i18n::Args l10n_args;
  bool refused() const { return code != absl::StatusCode::kOk; }

  // With the reason's own code.
  static Refusal For(v1::ReasonCode reason, std::string message);
  // With `code`, which must be in the reason's row. A pair the table does
  // not hold is a bug at the calling site: the refusal keeps its reason
  // and message and takes the reason's own code (never OK), and the bug is
  // logged, so that a consumer always sees the documented pair.
  static Refusal Of(absl::StatusCode code, v1::ReasonCode reason,
                    std::string message);
};

// The gRPC status of a refusal: code, message, and an ErrorDetail with the
// request id and, when the refusal reached the audit log, its receipt;
// then a google.rpc.LocalizedMessage in vi-VN and one in en.
grpc::Status ErrorStatus(const Refusal& r, const std::string& request_id,
                         const audit::AppendResult* receipt,
                         const std::string& node_id);

// What a LocalizedMessage of `r` says in `lang`: the catalogue's sentence
// for its reason (or its own l10n_key), then its legal basis and rule.
std::string LocalizedText(const Refusal& r, i18n::Lang lang);

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

// The adapter call failed with `grpc_code` and `message` (gRPC's).
Refusal AdapterFailure(int grpc_code, const std::string& message,
                       absl::Duration timeout);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REFUSAL_H_
