#include "gateway/internal/closing.h"

namespace dx::gateway::internal {

void CloseRefused(const ExchangeDeps& deps, Admission* a,
                  const Refusal& refusal, v1::Decision decision,
                  FinishFn finish) {
  a->RecordOutcome(refusal, decision);
  a->StampTotal();
  deps.audit->Append(
      a->record(), [&deps, a, refusal, finish = std::move(finish)](
                       absl::StatusOr<audit::AppendResult> r) {
        finish(r.ok() ? ErrorStatus(refusal, a->request_id(), &*r, deps.node_id)
                      : ErrorStatus(AuditFailure(r.status()), a->request_id(),
                                    nullptr, deps.node_id));
      });
}

void CloseAllowed(
    const ExchangeDeps& deps, Admission* a,
    std::function<absl::Status(const audit::AppendResult&)> answer,
    FinishFn finish) {
  a->record().set_decision(v1::DECISION_ALLOW);
  a->StampTotal();
  deps.audit->Append(a->record(), [&deps, a, answer = std::move(answer),
                                   finish = std::move(finish)](
                                      absl::StatusOr<audit::AppendResult> r) {
    if (!r.ok()) {
      finish(ErrorStatus(AuditFailure(r.status()), a->request_id(), nullptr,
                         deps.node_id));
      return;
    }
    absl::Status answered = answer(*r);
    if (!answered.ok()) {
      finish(ErrorStatus(InternalFailure(answered), a->request_id(), &*r,
                         deps.node_id));
      return;
    }
    finish(grpc::Status::OK);
  });
}

absl::Status SignEnvelope(const certs::Signer& signer,
                          const v1::ResponseEnvelope& env,
                          v1::SignedResponse* out) {
  std::string bytes;
  env.SerializeToString(&bytes);
  auto sig = signer.Sign(bytes);
  if (!sig.ok()) return sig.status();
  out->set_envelope(std::move(bytes));
  out->set_signature(*std::move(sig));
  out->set_signer_certificate(signer.certificate_der());
  return absl::OkStatus();
}

}  // namespace dx::gateway::internal
