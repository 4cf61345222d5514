#include "gateway/internal/unary_call.h"

#include "absl/strings/str_cat.h"
#include "gateway/internal/closing.h"

namespace dx::gateway::internal {

UnaryCall::UnaryCall(const ExchangeDeps& deps, InFlightLimiter* limiter,
                     grpc::CallbackServerContext* ctx,
                     v1::SignedResponse* response)
    : slot_(limiter),
      deps_(deps),
      response_(response),
      a_(deps, ctx, v1::RECORD_KIND_EXCHANGE) {}

void UnaryCall::Start(bool accepting, const v1::SignedRequest& request) {
  Refusal refused = a_.Authenticate(accepting, request);
  if (refused.refused()) {
    CloseRefused(deps_, &a_, refused, v1::DECISION_DENY,
                 [this](grpc::Status s) { Finish(std::move(s)); });
    return;
  }
  a_.CheckReplay(&cancel_,
                 [this](Refusal r) { OnReplayChecked(std::move(r)); });
  bool replayed = false, last = false;
  {
    absl::MutexLock lock(&mu_);
    // Known already to be a replay (the local store answers inline): no
    // decision is asked, no quota charged, no adapter called.
    if (replay_known_ && replay_refusal_.refused()) {
      replayed = true;
      last = --branches_ == 0;
    }
  }
  if (replayed) {
    if (last) Close();
    return;
  }
  a_.Decide(a_.RecordLimit(deps_.max_records_unary), &cancel_,
            [this](Refusal r) { OnDecided(std::move(r)); });
}

void UnaryCall::OnReplayChecked(Refusal refusal) {
  const bool refused = refusal.refused();
  bool last;
  {
    absl::MutexLock lock(&mu_);
    replay_known_ = true;
    replay_refusal_ = std::move(refusal);
    last = --branches_ == 0;
  }
  // Learned while the adapter works: what it sends will be discarded.
  if (!last && refused) client_ctx_.TryCancel();
  if (last) Close();
}

void UnaryCall::OnDecided(Refusal refusal) {
  if (refusal.refused()) {
    MainBranchDone(std::move(refusal), v1::DECISION_DENY);
    return;
  }
  max_records_ = static_cast<uint32_t>(a_.RecordLimit(deps_.max_records_unary));
  // With a row filter, the adapter's rows are not all the consumer's: ask
  // for as many as the gateway allows, and apply the limit after filtering.
  adapter_request_ = a_.AdapterRequestFor(
      a_.decision().row_filter ? deps_.max_records_unary : max_records_, 0);
  client_ctx_.set_deadline(absl::ToChronoTime(a_.AdapterDeadline(false)));
  a_.AdapterStarting();
  deps_.adapters->FetchRaw(
      a_.adapter(), &client_ctx_, &adapter_request_, &adapter_bytes_,
      [this](grpc::Status s) { OnAdapterDone(std::move(s)); });
}

void UnaryCall::OnAdapterDone(grpc::Status s) {
  a_.AdapterDone(s.error_code());
  if (s.ok() && !grpc::SerializationTraits<v1::AdapterResponse>::Deserialize(
                     &adapter_bytes_, &adapter_response_)
                     .ok()) {
    s = grpc::Status(grpc::StatusCode::INTERNAL,
                     "its answer is not a dx.v1.AdapterResponse");
  }
  if (!s.ok()) {
    // RESOURCE_EXHAUSTED: the adapter's answer is over what the gateway
    // takes (its channel's limit, or the adapter's own check).
    MainBranchDone(
        s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED
            ? AnswerTooLarge(deps_.max_answer_bytes, s.error_message())
            : AdapterFailure(s.error_code(), s.error_message(),
                             a_.AdapterTimeout()),
        v1::DECISION_ERROR);
    return;
  }
  // One row past the limit, when there is one, shows that more matched.
  const uint64_t limit = max_records_;
  record_count_ = a_.Filter(adapter_response_.mutable_records(),
                            limit == 0 ? 0 : limit + 1, &records_);
  if (limit != 0 && record_count_ > limit) {
    records_.mutable_rows()->RemoveLast();
    record_count_ = limit;
    truncated_ = a_.LimitKind(deps_.max_records_unary);
  } else if (adapter_response_.truncated()) {
    // The adapter had more rows than it was asked for. With a row filter
    // it was asked for the gateway's cap: rows past it were not looked at.
    truncated_ = a_.decision().row_filter
                     ? v1::TRUNCATION_GATEWAY_MAX_RECORDS
                     : a_.LimitKind(deps_.max_records_unary);
  }
  // An answer the gateway could not send is refused here, before its
  // record is written, so that the record says what the consumer got.
  const uint64_t bytes = records_.ByteSizeLong();
  if (bytes > AnswerBudget(deps_.max_answer_bytes)) {
    MainBranchDone(AnswerTooLarge(deps_.max_answer_bytes,
                                  absl::StrCat(bytes, " bytes of records")),
                   v1::DECISION_ERROR);
    return;
  }
  MainBranchDone(Refusal(), v1::DECISION_ALLOW);
}

void UnaryCall::MainBranchDone(Refusal refusal, v1::Decision decision) {
  bool last;
  {
    absl::MutexLock lock(&mu_);
    main_refusal_ = std::move(refusal);
    main_decision_ = decision;
    last = --branches_ == 0;
  }
  if (last) Close();
}

void UnaryCall::Close() {
  // Both branches are done: nothing else touches the members now.
  Refusal replay, main;
  v1::Decision decision;
  {
    absl::MutexLock lock(&mu_);
    replay = replay_refusal_;
    main = main_refusal_;
    decision = main_decision_;
  }
  FinishFn finish = [this](grpc::Status s) { Finish(std::move(s)); };
  const bool served = !replay.refused() && !main.refused();
  a_.SettleQuota(served ? record_count_ : 0);
  if (replay.refused()) {
    // A replay is refused whatever the rest found; a store that could not
    // tell is an error, not a decision.
    CloseRefused(deps_, &a_, replay,
                 replay.reason == v1::REASON_REPLAY ? v1::DECISION_DENY
                                                    : v1::DECISION_ERROR,
                 std::move(finish));
    return;
  }
  if (main.refused()) {
    CloseRefused(deps_, &a_, main, decision, std::move(finish));
    return;
  }
  v1::AuditRecord& record = a_.record();
  *record.mutable_returned_fields() = records_.columns();
  record.set_record_count(record_count_);
  record.set_truncated(truncated_);
  record.set_response_sha256(certs::Sha256(records_.SerializeAsString()));
  audit::DeliveredRecords delivered = a_.DeliveredRecordsFor();
  a_.NoteDelivered(records_, &delivered);
  delivered.FillInto(&record);
  CloseAllowed(
      deps_, &a_,
      [this](const audit::AppendResult& receipt) {
        v1::ResponseEnvelope env = a_.ResponseBase(receipt);
        *env.mutable_records() = std::move(records_);
        env.set_truncated(truncated_);
        return SignEnvelope(*deps_.signer, env, response_);
      },
      std::move(finish));
}

void UnaryCall::OnCancel() {
  cancel_.Cancel();
  client_ctx_.TryCancel();
}

}  // namespace dx::gateway::internal
