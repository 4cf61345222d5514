#include "gateway/refusal.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/quote.h"
#include "dx/v1/exchange.pb.h"
#include "google/rpc/localized_message.pb.h"
#include "rpc/status.h"

namespace dx::gateway {
namespace {

using C = absl::StatusCode;

std::vector<ReasonRow> MakeReasonCodes() {
  return {
      // The consumer cancelled a stream: a failure, not a refusal.
      {v1::REASON_UNSPECIFIED, {C::kCancelled}},
      // A certificate that does not parse is a failed authentication.
      {v1::REASON_MALFORMED_REQUEST,
       {C::kInvalidArgument, C::kUnauthenticated}},
      {v1::REASON_TLS_IDENTITY_MISSING, {C::kUnauthenticated}},
      {v1::REASON_IDENTITY_MISMATCH, {C::kUnauthenticated}},
      {v1::REASON_CERT_UNTRUSTED, {C::kUnauthenticated}},
      {v1::REASON_CERT_REVOKED, {C::kUnauthenticated}},
      {v1::REASON_CERT_EXPIRED, {C::kUnauthenticated}},
      {v1::REASON_BAD_SIGNATURE, {C::kUnauthenticated}},
      {v1::REASON_STALE_REQUEST, {C::kFailedPrecondition}},
      {v1::REASON_EXPIRED_REQUEST, {C::kFailedPrecondition}},
      {v1::REASON_REPLAY, {C::kFailedPrecondition}},
      {v1::REASON_UNKNOWN_DATASET, {C::kNotFound}},
      {v1::REASON_UNKNOWN_FIELD, {C::kInvalidArgument}},
      {v1::REASON_UNKNOWN_CONSUMER, {C::kPermissionDenied}},
      {v1::REASON_POLICY_DENIED, {C::kPermissionDenied}},
      {v1::REASON_ADAPTER_UNAVAILABLE, {C::kUnavailable}},
      {v1::REASON_ADAPTER_TIMEOUT, {C::kDeadlineExceeded}},
      // The adapter's own INVALID_ARGUMENT and NOT_FOUND pass through; a
      // cancelled adapter call stays CANCELLED.
      {v1::REASON_ADAPTER_ERROR,
       {C::kUnavailable, C::kInvalidArgument, C::kNotFound, C::kCancelled}},
      {v1::REASON_AUDIT_UNAVAILABLE, {C::kUnavailable}},
      // Shutting down; or at max_in_flight (RESOURCE_EXHAUSTED).
      {v1::REASON_GATEWAY_UNAVAILABLE,
       {C::kUnavailable, C::kResourceExhausted}},
      {v1::REASON_INTERNAL, {C::kInternal}},
      {v1::REASON_POLICY_FORBIDDEN, {C::kPermissionDenied}},
      {v1::REASON_GRANT_NOT_VALID, {C::kPermissionDenied}},
      {v1::REASON_SUBJECT_REQUIRED, {C::kPermissionDenied}},
      {v1::REASON_CONSENT_REQUIRED, {C::kPermissionDenied}},
      {v1::REASON_QUOTA_EXCEEDED, {C::kResourceExhausted}},
      {v1::REASON_REPLAY_STORE_UNAVAILABLE, {C::kUnavailable}},
      {v1::REASON_QUOTA_STORE_UNAVAILABLE, {C::kUnavailable}},
      {v1::REASON_POLICY_NOT_CURRENT, {C::kUnavailable}},
      {v1::REASON_UNKNOWN_QUERY_KEY, {C::kInvalidArgument}},
      {v1::REASON_QUERY_NOT_ALLOWED, {C::kPermissionDenied}},
      {v1::REASON_REQUEST_TOO_LARGE, {C::kResourceExhausted}},
      {v1::REASON_ANSWER_TOO_LARGE, {C::kResourceExhausted}},
      {v1::REASON_STATE_SECRET, {C::kPermissionDenied}},
      // Subscriptions (gateway/subscription_service.cc).
      {v1::REASON_SUBSCRIPTION_UNKNOWN, {C::kNotFound}},
      {v1::REASON_ACK_NOT_DELIVERED, {C::kFailedPrecondition}},
      {v1::REASON_CURSOR_MISMATCH, {C::kFailedPrecondition}},
      {v1::REASON_SUBSCRIPTION_UNSUPPORTED,
       {C::kUnimplemented, C::kInvalidArgument, C::kFailedPrecondition}},
      {v1::REASON_SUBSCRIPTION_BUSY, {C::kResourceExhausted}},
      {v1::REASON_SUBSCRIPTION_RESYNC, {C::kOutOfRange}},
      // Not a permission the policy could grant: the caller's code is
      // retired, and no grant changes that; it must call as a successor.
      {v1::REASON_AGENCY_SUCCEEDED, {C::kFailedPrecondition}},
      // Federation (gateway/internal/forwarding.cc).
      {v1::REASON_PEER_UNAVAILABLE, {C::kUnavailable, C::kDeadlineExceeded}},
      // A missing or invalid origin attestation: PERMISSION_DENIED.
      {v1::REASON_ROUTING_REFUSED,
       {C::kFailedPrecondition, C::kInvalidArgument, C::kPermissionDenied}},
  };
}

}  // namespace

const std::vector<ReasonRow>& ReasonCodes() {
  static const auto* table = new std::vector<ReasonRow>(MakeReasonCodes());
  return *table;
}

const ReasonRow* ReasonRowOf(v1::ReasonCode reason) {
  for (const ReasonRow& row : ReasonCodes()) {
    if (row.reason == reason) return &row;
  }
  return nullptr;
}

bool ReasonAllows(v1::ReasonCode reason, absl::StatusCode code) {
  const ReasonRow* row = ReasonRowOf(reason);
  if (row == nullptr) return false;
  for (absl::StatusCode c : row->codes) {
    if (c == code) return true;
  }
  return false;
}

Refusal Refusal::For(v1::ReasonCode reason, std::string message) {
  const ReasonRow* row = ReasonRowOf(reason);
  return Of(row != nullptr ? row->codes.front() : C::kInternal, reason,
            std::move(message));
}

Refusal Refusal::Of(absl::StatusCode code, v1::ReasonCode reason,
                    std::string message) {
  Refusal r;
  r.code = code;
  r.reason = reason;
  r.message = std::move(message);
  if (!ReasonAllows(reason, code)) {
    const ReasonRow* row = ReasonRowOf(reason);
    if (row == nullptr) {
      // A number outside the enum: nothing to document it by.
      r.reason = v1::REASON_INTERNAL;
      r.code = C::kInternal;
    } else {
      r.code = row->codes.front();
    }
    LogEvent("dxgate", "error",
             "bug: a refusal was built with a code its reason does not have "
             "in the table of gateway/refusal.cc; sent with the reason's own",
             {{"reason", v1::ReasonCode_IsValid(reason)
                             ? v1::ReasonCode_Name(reason)
                             : std::to_string(static_cast<int>(reason))},
              {"code", absl::StatusCodeToString(code)},
              {"sent", absl::StatusCodeToString(r.code)}});
  }
  return r;
}

grpc::Status ErrorStatus(const Refusal& r, const std::string& request_id,
                         const audit::AppendResult* receipt,
                         const std::string& node_id) {
  v1::ErrorDetail detail;
  detail.set_reason(r.reason);
  detail.set_message(r.message);
  detail.set_legal_basis(r.legal_basis);
  detail.set_policy_rule_id(r.rule_id);
  detail.set_request_id(request_id);
  detail.set_platform_id(r.platform_id);
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
  // Beside the message clients already parse, the words for a person: the
  // standard detail, Vietnamese first.
  for (i18n::Lang lang : {i18n::Lang::kVi, i18n::Lang::kEn}) {
    google::rpc::LocalizedMessage localized;
    localized.set_locale(std::string(i18n::Tag(lang)));
    localized.set_message(LocalizedText(r, lang));
    status.add_details()->PackFrom(localized);
  }
  return grpc::Status(rpc::ToGrpcCode(r.code), r.message,
                      status.SerializeAsString());
}

std::string LocalizedText(const Refusal& r, i18n::Lang lang) {
  const std::string reason_key =
      absl::StrCat("refusal.", v1::ReasonCode_IsValid(r.reason)
                                   ? v1::ReasonCode_Name(r.reason)
                                   : v1::ReasonCode_Name(v1::REASON_INTERNAL));
  std::string text = i18n::Text(
      lang,
      !r.l10n_key.empty() && i18n::Has(r.l10n_key) ? r.l10n_key : reason_key,
      r.l10n_args);
  if (!r.legal_basis.empty()) {
    absl::StrAppend(&text, " ",
                    i18n::Text(lang, "refusal.legal_basis",
                               {{"legal_basis", r.legal_basis}}));
  }
  if (!r.rule_id.empty()) {
    absl::StrAppend(&text, " ",
                    i18n::Text(lang, "refusal.rule", {{"rule", r.rule_id}}));
  }
  return text;
}

namespace {

// Sets the catalogue entry and its values of a refusal built below.
Refusal Localized(Refusal r, std::string key, i18n::Args args) {
  r.l10n_key = std::move(key);
  r.l10n_args = std::move(args);
  return r;
}

}  // namespace

Refusal AuditFailure(const absl::Status& s) {
  return Refusal::For(
      v1::REASON_AUDIT_UNAVAILABLE,
      absl::StrCat("the gateway cannot record the exchange in its audit log, "
                   "so it serves nothing; retry later (",
                   s.message(), ")"));
}

Refusal ReplayStoreFailure(const absl::Status& s) {
  return Refusal::For(
      v1::REASON_REPLAY_STORE_UNAVAILABLE,
      absl::StrCat("the gateway cannot confirm that this request id and nonce "
                   "are new, so it serves nothing; retry later with a new "
                   "request (",
                   s.message(), ")"));
}

Refusal ReplayRefusal(const std::string& request_id) {
  return Localized(
      Refusal::For(
          v1::REASON_REPLAY,
          absl::StrCat("request_id ", Quote(request_id),
                       " or its nonce was already used; send a new request "
                       "with a new id and nonce")),
      "refusal.replay", {{"request_id", Quote(request_id)}});
}

Refusal InternalFailure(const absl::Status& s) {
  return Refusal::For(v1::REASON_INTERNAL, std::string(s.message()));
}

Refusal ShuttingDown() {
  return Refusal::For(v1::REASON_GATEWAY_UNAVAILABLE,
                      "the gateway is shutting down; retry shortly");
}

Refusal Overloaded(uint32_t max_in_flight) {
  return Localized(
      Refusal::Of(
          absl::StatusCode::kResourceExhausted, v1::REASON_GATEWAY_UNAVAILABLE,
          absl::StrCat("the gateway is at its limit of ", max_in_flight,
                       " exchanges in flight; retry in a moment with a new "
                       "request")),
      "refusal.overloaded", {{"max", std::to_string(max_in_flight)}});
}

Refusal AnswerTooLarge(uint64_t max_answer_bytes, const std::string& detail) {
  return Localized(
      Refusal::For(
          v1::REASON_ANSWER_TOO_LARGE,
          absl::StrCat("the answer is larger than the gateway sends (",
                       max_answer_bytes,
                       " bytes, max_response_bytes); ask for fewer records or "
                       "fields (max_records), or use Stream",
                       detail.empty() ? "" : absl::StrCat(" (", detail, ")"))),
      "refusal.answer_too_large", {{"max", std::to_string(max_answer_bytes)}});
}

Refusal RequestTooLarge(uint64_t size, uint64_t max_request_bytes) {
  return Localized(
      Refusal::For(
          v1::REASON_REQUEST_TOO_LARGE,
          absl::StrCat("the request is ", size,
                       " bytes; this gateway accepts at most ",
                       max_request_bytes,
                       " (max_request_bytes): send fewer fields or a shorter "
                       "query, purpose or legal basis, or split the request")),
      "refusal.request_too_large",
      {{"size", std::to_string(size)},
       {"max", std::to_string(max_request_bytes)}});
}

Refusal AdapterFailure(int grpc_code, const std::string& message,
                       absl::Duration timeout) {
  const absl::StatusCode code = rpc::FromGrpcCode(grpc_code);
  switch (code) {
    case absl::StatusCode::kDeadlineExceeded:
      return Localized(
          Refusal::For(
              v1::REASON_ADAPTER_TIMEOUT,
              absl::StrCat(
                  "the provider's adapter did not answer within ",
                  absl::FormatDuration(timeout),
                  " (or your deadline or expires_at came first); retry later")),
          "refusal.adapter_timeout",
          {{"timeout", absl::FormatDuration(timeout)}});
    case absl::StatusCode::kUnavailable:
      return Refusal::For(
          v1::REASON_ADAPTER_UNAVAILABLE,
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
