#include "gateway/internal/closing.h"

namespace dx::gateway::internal {
namespace {

// In a federation a refusal names the platform whose gateway gave it.
Refusal Named(const ExchangeDeps& deps, Refusal r) {
  if (r.platform_id.empty() && deps.federation != nullptr) {
    r.platform_id = deps.federation->platform_id();
  }
  return r;
}

// The record could not be appended: the exchange ends in that error, and
// the observer hears of it as such.
grpc::Status NotRecorded(const ExchangeDeps& deps, Admission* a,
                         const absl::Status& why) {
  const Refusal failure = Named(deps, AuditFailure(why));
  a->RecordOutcome(failure, v1::DECISION_ERROR);
  grpc::Status s = ErrorStatus(failure, a->request_id(), nullptr, deps.node_id);
  a->ReportClosed(-1, s.error_code());
  return s;
}

// Appends the follow-up record of an answer that did not reach the
// consumer; `done` gets its sequence number (-1: not recorded) and the
// status the consumer is given.
void AppendNotDelivered(const ExchangeDeps& deps, Admission* a, uint64_t amends,
                        const Refusal& why, bool records_left,
                        std::function<void(int64_t, grpc::Status)> done) {
  v1::AuditRecord& record = a->record();
  record.set_kind(v1::RECORD_KIND_NOT_DELIVERED);
  record.set_amends_sequence(amends);
  if (!records_left) {
    record.set_record_count(0);
    record.clear_returned_fields();
    record.clear_response_sha256();
    record.set_truncated(v1::TRUNCATION_NONE);
    record.clear_delivered_record_hmacs();
    record.set_delivered_records_truncated(false);
  }
  a->RecordOutcome(why, v1::DECISION_ERROR);
  a->StampTotal();
  deps.audit->Append(record, [&deps, a, why, done = std::move(done)](
                                 absl::StatusOr<audit::AppendResult> r) {
    if (!r.ok()) {
      done(-1, ErrorStatus(Named(deps, AuditFailure(r.status())),
                           a->request_id(), nullptr, deps.node_id));
      return;
    }
    done(static_cast<int64_t>(r->sequence_number),
         ErrorStatus(Named(deps, why), a->request_id(), &*r, deps.node_id));
  });
}

}  // namespace

void CloseRefused(const ExchangeDeps& deps, Admission* a,
                  const Refusal& refusal, v1::Decision decision,
                  FinishFn finish) {
  a->RecordOutcome(refusal, decision);
  a->StampTotal();
  deps.audit->Append(a->record(), [&deps, a, refusal, start = deps.clock->Now(),
                                   finish = std::move(finish)](
                                      absl::StatusOr<audit::AppendResult> r) {
    a->stages().Set(Stage::kAuditCommit, deps.clock->Now() - start);
    if (!r.ok()) {
      finish(NotRecorded(deps, a, r.status()));
      return;
    }
    grpc::Status s =
        ErrorStatus(Named(deps, refusal), a->request_id(), &*r, deps.node_id);
    a->ReportClosed(static_cast<int64_t>(r->sequence_number), s.error_code());
    finish(std::move(s));
  });
}

void CloseRelayed(const ExchangeDeps& deps, Admission* a,
                  const Refusal& as_recorded, v1::Decision decision,
                  grpc::Status relayed, FinishFn finish) {
  a->RecordOutcome(as_recorded, decision);
  a->StampTotal();
  deps.audit->Append(
      a->record(),
      [&deps, a, relayed = std::move(relayed), start = deps.clock->Now(),
       finish = std::move(finish)](absl::StatusOr<audit::AppendResult> r) {
        a->stages().Set(Stage::kAuditCommit, deps.clock->Now() - start);
        if (!r.ok()) {
          finish(NotRecorded(deps, a, r.status()));
          return;
        }
        a->ReportClosed(static_cast<int64_t>(r->sequence_number),
                        relayed.error_code());
        finish(relayed);
      });
}

void CloseAllowed(
    const ExchangeDeps& deps, Admission* a,
    std::function<absl::Status(const audit::AppendResult&)> answer,
    FinishFn finish) {
  a->record().set_decision(v1::DECISION_ALLOW);
  a->StampTotal();
  deps.audit->Append(
      a->record(),
      [&deps, a, answer = std::move(answer), start = deps.clock->Now(),
       finish = std::move(finish)](absl::StatusOr<audit::AppendResult> r) {
        const absl::Time committed = deps.clock->Now();
        a->stages().Set(Stage::kAuditCommit, committed - start);
        if (!r.ok()) {
          finish(NotRecorded(deps, a, r.status()));
          return;
        }
        absl::Status answered = answer(*r);
        a->stages().Set(Stage::kSign, deps.clock->Now() - committed);
        if (!answered.ok()) {
          AppendNotDelivered(deps, a, r->sequence_number,
                             InternalFailure(answered), /*records_left=*/false,
                             [a, finish](int64_t sequence, grpc::Status s) {
                               a->ReportClosed(sequence, s.error_code());
                               finish(std::move(s));
                             });
          return;
        }
        a->ReportClosed(static_cast<int64_t>(r->sequence_number), grpc::OK);
        finish(grpc::Status::OK);
      });
}

void CloseNotDelivered(const ExchangeDeps& deps, Admission* a, uint64_t amends,
                       const Refusal& why, bool records_left, FinishFn finish) {
  AppendNotDelivered(deps, a, amends, why, records_left,
                     [finish = std::move(finish)](int64_t, grpc::Status s) {
                       finish(std::move(s));
                     });
}

absl::Status SignEnvelope(const certs::Signer& signer,
                          const v1::ResponseEnvelope& env,
                          v1::SignedResponse* out) {
  std::string bytes;
  env.SerializeToString(&bytes);
  // The signature and the certificate of the key that made it, even
  // across a rotation.
  auto sig = signer.SignWithCertificate(bytes);
  if (!sig.ok()) return sig.status();
  out->set_envelope(std::move(bytes));
  out->set_signature(std::move(sig->der));
  out->set_signer_certificate(std::move(sig->certificate_der));
  return absl::OkStatus();
}

}  // namespace dx::gateway::internal
