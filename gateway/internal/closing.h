// The closing step every exchange ends with, unary or streamed, allowed
// or refused: the audit record goes to the log; only once it is durable is
// the answer signed and sent (so nothing leaves unrecorded), and if the
// append fails the call fails closed with UNAVAILABLE. The completion runs
// on the audit log's executor, never on its writer thread. This is where
// per-stage timings and outcome metrics plug in.
#ifndef DX_GATEWAY_INTERNAL_CLOSING_H_
#define DX_GATEWAY_INTERNAL_CLOSING_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "gateway/exchange_deps.h"
#include "gateway/internal/admission.h"

namespace dx::gateway::internal {

using FinishFn = std::function<void(grpc::Status)>;

// Records `refusal` as the outcome (`decision` DENY or ERROR), then
// finishes with it, its receipt in the ErrorDetail.
void CloseRefused(const ExchangeDeps& deps, Admission* admission,
                  const Refusal& refusal, v1::Decision decision,
                  FinishFn finish);

// A refusal a peer platform gave to a forwarded request: records it as
// `as_recorded` (`decision` DENY or ERROR), then finishes with the peer's
// status as it came, its ErrorDetail naming the platform that refused and
// its receipt.
void CloseRelayed(const ExchangeDeps& deps, Admission* admission,
                  const Refusal& as_recorded, v1::Decision decision,
                  grpc::Status relayed, FinishFn finish);

// Records the allowed outcome; once durable, `answer(receipt)` fills and
// signs what is sent; then finishes OK. An error there answers INTERNAL,
// and a RECORD_KIND_NOT_DELIVERED record follows the first (the answer
// could not be signed after its record was written: the record must not be
// left saying the consumer was served).
void CloseAllowed(
    const ExchangeDeps& deps, Admission* admission,
    std::function<absl::Status(const audit::AppendResult&)> answer,
    FinishFn finish);

// For an answer recorded at `amends` that did not reach the consumer after
// all (a stream's signed end that could not be sent): appends a
// RECORD_KIND_NOT_DELIVERED record whose outcome is `why`, then finishes
// with `why` (or with the audit failure). `records_left`: records were sent
// before (a stream's batches), so the record keeps their count. The
// exchange was already reported to the observer: this does not report it
// again.
void CloseNotDelivered(const ExchangeDeps& deps, Admission* admission,
                       uint64_t amends, const Refusal& why, bool records_left,
                       FinishFn finish);

// Serializes `env` once and signs those bytes into `out`.
absl::Status SignEnvelope(const certs::Signer& signer,
                          const v1::ResponseEnvelope& env,
                          v1::SignedResponse* out);

}  // namespace dx::gateway::internal

#endif  // DX_GATEWAY_INTERNAL_CLOSING_H_
