#include "gateway/internal/stream_call.h"

#include "common/tsan_hand_off.h"
#include "gateway/internal/closing.h"
#include "gateway/policy_filter.h"
#include "gateway/record_filter.h"

namespace dx::gateway::internal {

StreamCall::StreamCall(const ExchangeDeps& deps, InFlightLimiter* limiter,
                       grpc::CallbackServerContext* ctx)
    : slot_(limiter),
      deps_(deps),
      ctx_(ctx),
      a_(deps, ctx, v1::RECORD_KIND_STREAM_START) {}

void StreamCall::Start(bool accepting, const v1::SignedRequest& request) {
  Refusal refused = a_.Authenticate(accepting, request);
  if (refused.refused()) {
    a_.record().set_kind(v1::RECORD_KIND_EXCHANGE);
    FailAndAudit(refused, v1::DECISION_DENY);
    return;
  }
  a_.CheckReplay(&cancel_,
                 [this](Refusal r) { OnReplayChecked(std::move(r)); });
}

void StreamCall::OnReplayChecked(Refusal refusal) {
  if (refusal.refused()) {
    a_.record().set_kind(v1::RECORD_KIND_EXCHANGE);
    FailAndAudit(refusal, refusal.reason == v1::REASON_REPLAY
                              ? v1::DECISION_DENY
                              : v1::DECISION_ERROR);
    return;
  }
  a_.Decide(a_.RecordLimit(0), &cancel_,
            [this](Refusal r) { OnDecided(std::move(r)); });
}

void StreamCall::OnDecided(Refusal refusal) {
  if (refusal.refused()) {
    a_.record().set_kind(v1::RECORD_KIND_EXCHANGE);
    FailAndAudit(refusal, v1::DECISION_DENY);
    return;
  }
  max_records_ = a_.RecordLimit(0);
  // The start is durable before any record leaves.
  a_.record().set_decision(v1::DECISION_ALLOW);
  a_.StampTotal();
  deps_.audit->Append(
      a_.record(), [this](absl::StatusOr<audit::AppendResult> r) {
        if (!r.ok()) {
          FinishServer(ErrorStatus(AuditFailure(r.status()), a_.request_id(),
                                   nullptr, deps_.node_id));
          return;
        }
        start_sequence_ = r->sequence_number;
        StartAdapter();
      });
}

void StreamCall::OnWriteDone(bool ok) {
  TsanTakeOver(this);
  if (final_pending_.exchange(false)) {
    // The signed end: written, or the consumer is gone and it never will be.
    if (ok) {
      FinishWith(grpc::Status::OK);
    } else {
      EndNotDelivered();
    }
    return;
  }
  if (finishing_) return;
  if (!ok) client_ctx_.TryCancel();  // the consumer went away
  bool send = false, complete = false, dropped = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && batch_ready_) {  // nobody to send it to
      batch_ready_ = false;
      dropped = true;  // and no read is under way: none will start
    }
    if (batch_ready_) {
      batch_ready_ = false;
      writing_ = true;
      send = true;
    } else {
      complete = stream_ended_;
    }
  }
  if (dropped) NoMoreReads();
  if (send) SendBatchAndReadNext();
  if (complete) CompleteStream();
}

void StreamCall::NoMoreReads() {
  {
    absl::MutexLock lock(&mu_);
    if (reads_over_) return;
    reads_over_ = true;
  }
  TsanHandOff(this);
  grpc::ClientReadReactor<grpc::ByteBuffer>::RemoveHold();
}

void StreamCall::WriteOut() {
  TsanHandOff(this);
  grpc::ServerWriteReactor<v1::StreamMessage>::StartWrite(&out_);
}

void StreamCall::ReadNext() {
  TsanHandOff(this);
  grpc::ClientReadReactor<grpc::ByteBuffer>::StartRead(&batch_bytes_);
}

void StreamCall::FinishWith(grpc::Status status) {
  TsanHandOff(this);
  grpc::ServerWriteReactor<v1::StreamMessage>::Finish(std::move(status));
}

void StreamCall::OnCancel() {
  TsanTakeOver(this);
  cancel_.Cancel();
  absl::MutexLock lock(&mu_);
  if (adapter_started_) client_ctx_.TryCancel();
}

void StreamCall::OnDone() {
  TsanTakeOver(this);
  bool remove;
  {
    absl::MutexLock lock(&mu_);
    server_done_ = true;
    remove = !adapter_started_ || adapter_done_;
  }
  if (remove) delete this;
}

void StreamCall::OnReadDone(bool ok) {
  TsanTakeOver(this);
  if (!ok) {  // the adapter's stream ended: OnDone(status) follows
    NoMoreReads();
    return;
  }
  // A batch after the limit is still looked at (SendBatchAndReadNext): it
  // tells whether more records matched.
  {
    absl::MutexLock lock(&mu_);
    if (writing_) {  // held in batch_bytes_ until the write completes
      batch_ready_ = true;
      return;
    }
    writing_ = true;
  }
  SendBatchAndReadNext();
}

void StreamCall::OnDone(const grpc::Status& s) {
  TsanTakeOver(this);
  a_.AdapterDone(s.error_code());
  bool complete, remove;
  {
    absl::MutexLock lock(&mu_);
    stream_ended_ = true;
    end_status_ = s;
    // With a batch still being written, OnWriteDone completes the stream.
    complete = !writing_ && !batch_ready_;
  }
  if (complete) CompleteStream();
  {
    absl::MutexLock lock(&mu_);
    adapter_done_ = true;
    remove = server_done_;
  }
  if (remove) delete this;
}

void StreamCall::StartAdapter() {
  // With a row filter the limit applies after filtering (OnReadDone).
  adapter_request_ = a_.AdapterRequestFor(
      a_.decision().row_filter ? 0 : max_records_, deps_.stream_batch_rows);
  client_ctx_.set_deadline(absl::ToChronoTime(a_.AdapterDeadline(true)));
  a_.AdapterStarting();
  {
    absl::MutexLock lock(&mu_);
    adapter_started_ = true;
    if (ctx_->IsCancelled()) client_ctx_.TryCancel();
  }
  deps_.adapters->FetchStreamRaw(a_.adapter(), &client_ctx_, &adapter_request_,
                                 this);
  // Held until no read will be started again (NoMoreReads): without it the
  // adapter's OnDone can come while a batch waits for the previous write
  // (the adapter ended meanwhile), and the read started after that write
  // would be an operation after OnDone, which gRPC forbids.
  grpc::ClientReadReactor<grpc::ByteBuffer>::AddHold();
  ReadNext();
  grpc::ClientReadReactor<grpc::ByteBuffer>::StartCall();
}

void StreamCall::SendBatchAndReadNext() {
  // filtered_ is a member: swapped with batch_in_ back and forth, both
  // keep their allocated rows, which the next receive reuses.
  const bool limited = max_records_ != 0;
  const uint64_t limit = limited ? max_records_ - record_count_ : 0;
  const bool at_limit = limited && limit == 0;
  // One row past the limit, when there is one, shows that more matched;
  // it is dropped before the batch is sent.
  const uint64_t take = limited ? limit + 1 : 0;
  bool over = false;
  absl::StatusOr<uint64_t> taken = absl::DataLossError(
      "the adapter sent a message that is not a dx.v1.RecordBatch");
  std::string* bytes = out_.mutable_batch();
  bytes->clear();
  if (NeedsRowWork(a_.decision())) {
    // Rows are decoded: the filter and masks look at every value.
    if (grpc::SerializationTraits<v1::RecordBatch>::Deserialize(&batch_bytes_,
                                                                &rows_in_)
            .ok()) {
      taken = a_.Filter(&rows_in_, take, &rows_out_);
      if (limited && *taken > limit) {
        over = true;
        rows_out_.mutable_rows()->RemoveLast();
        taken = limit;
      }
      rows_out_.SerializeToString(bytes);
      if (returned_fields_.columns_size() == 0) {
        *returned_fields_.mutable_columns() = rows_out_.columns();
      }
    }
  } else if (grpc::SerializationTraits<v1::RawRecordBatch>::Deserialize(
                 &batch_bytes_, &batch_in_)
                 .ok()) {
    taken =
        TakeProjectedRaw(&batch_in_, a_.decision().fields, take, &filtered_);
    if (taken.ok()) {
      if (limited && *taken > limit) {
        over = true;
        filtered_.mutable_rows()->RemoveLast();
        taken = limit;
      }
      filtered_.SerializeToString(bytes);
      if (returned_fields_.columns_size() == 0) {
        *returned_fields_.mutable_columns() = filtered_.columns();
      }
    }
  }
  if (!taken.ok()) {
    adapter_error_ = std::string(taken.status().message());
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    client_ctx_.TryCancel();  // OnDone(status) reports the error
    NoMoreReads();
    return;
  }
  if (over) truncated_ = a_.LimitKind(0);
  if (at_limit) {
    // The limit was reached with the last batch sent: this one only told
    // whether more matched. Nothing more is sent; the adapter is stopped
    // (OnDone with CANCELLED then completes the stream as served).
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    client_ctx_.TryCancel();
    NoMoreReads();
    return;
  }
  record_count_ += *taken;
  if (!delivered_.has_value()) delivered_.emplace(a_.DeliveredRecordsFor());
  if (NeedsRowWork(a_.decision())) {
    a_.NoteDelivered(rows_out_, &*delivered_);
  } else {
    a_.NoteDelivered(filtered_, &*delivered_);
  }
  digest_.append(certs::Sha256(*bytes));
  ++batch_count_;
  WriteOut();
  if (over) {
    client_ctx_.TryCancel();  // the answer is complete: stop the adapter
    NoMoreReads();
  } else {
    ReadNext();
  }
}

void StreamCall::CompleteStream() {
  // Records that left count against the daily quota, however it ends.
  a_.SettleQuota(record_count_);
  const grpc::Status s = end_status_;
  // Cancelled by us because max_records was reached counts as success.
  const bool limit_reached = max_records_ != 0 && record_count_ >= max_records_;
  if (!adapter_error_.empty()) {
    Refusal r = AdapterFailure(grpc::StatusCode::INTERNAL, adapter_error_,
                               a_.AdapterTimeout());
    PrepareEnd(r, v1::DECISION_ERROR);
    FailAndAudit(r, v1::DECISION_ERROR);
  } else if (s.ok() || (limit_reached && s.error_code() == grpc::CANCELLED)) {
    FinishSuccess();
  } else if (ctx_->IsCancelled()) {
    Refusal r = Refusal::For(v1::REASON_UNSPECIFIED,
                             "the consumer cancelled the stream");
    PrepareEnd(r, v1::DECISION_ERROR);
    FailAndAudit(r, v1::DECISION_ERROR);
  } else {
    Refusal r = s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED
                    ? AnswerTooLarge(deps_.max_answer_bytes, s.error_message())
                    : AdapterFailure(s.error_code(), s.error_message(),
                                     a_.AdapterTimeout());
    PrepareEnd(r, v1::DECISION_ERROR);
    FailAndAudit(r, v1::DECISION_ERROR);
  }
}

void StreamCall::PrepareEnd(const Refusal& r, v1::Decision decision) {
  a_.record().set_kind(v1::RECORD_KIND_STREAM_END);
  a_.record().set_stream_start_sequence(start_sequence_);
  // What left before the failure was delivered all the same.
  if (delivered_.has_value()) delivered_->FillInto(&a_.record());
  a_.RecordOutcome(r, decision);
}

std::string StreamCall::BatchesDigest() const { return certs::Sha256(digest_); }

void StreamCall::FinishSuccess() {
  v1::AuditRecord& record = a_.record();
  record.set_kind(v1::RECORD_KIND_STREAM_END);
  record.set_stream_start_sequence(start_sequence_);
  record.set_record_count(record_count_);
  record.set_truncated(truncated_);
  *record.mutable_returned_fields() = returned_fields_.columns();
  if (delivered_.has_value()) delivered_->FillInto(&record);
  record.set_response_sha256(BatchesDigest());
  CloseAllowed(
      deps_, &a_,
      [this](const audit::AppendResult& receipt) {
        v1::ResponseEnvelope env = a_.ResponseBase(receipt);
        env.set_batch_count(batch_count_);
        env.set_record_count(record_count_);
        env.set_batches_digest(BatchesDigest());
        env.set_truncated(truncated_);
        end_sequence_ = receipt.sequence_number;
        return SignEnvelope(*deps_.signer, env, out_.mutable_final());
      },
      [this](grpc::Status s) {
        finishing_ = true;
        if (!s.ok()) {
          FinishWith(std::move(s));
          return;
        }
        // The consumer left while the end was being recorded: the end
        // cannot reach it.
        if (ctx_->IsCancelled()) {
          EndNotDelivered();
          return;
        }
        // Written apart from the status, so that OnWriteDone tells whether
        // it reached the consumer's connection.
        final_pending_ = true;
        WriteOut();
      });
}

void StreamCall::EndNotDelivered() {
  CloseNotDelivered(
      deps_, &a_, end_sequence_,
      Refusal::Of(absl::StatusCode::kCancelled, v1::REASON_UNSPECIFIED,
                  "the consumer left before the stream's signed end was "
                  "sent: its batches left, its receipt did not"),
      /*records_left=*/true,
      [this](grpc::Status s) { FinishWith(std::move(s)); });
}

void StreamCall::FailAndAudit(const Refusal& refusal, v1::Decision decision) {
  CloseRefused(deps_, &a_, refusal, decision,
               [this](grpc::Status s) { FinishServer(std::move(s)); });
}

void StreamCall::FinishServer(grpc::Status status) {
  finishing_ = true;
  FinishWith(std::move(status));
}

}  // namespace dx::gateway::internal
