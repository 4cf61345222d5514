#include "gateway/exchange_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "dx/v1/audit.pb.h"
#include "dx/v1/errors.pb.h"
#include "gateway/policy_filter.h"
#include "gateway/record_filter.h"
#include "policy/masking.h"
#include "policy/row_filter.h"

namespace dx::gateway {
namespace {

using audit::AppendResult;

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string PeerPem(grpc::CallbackServerContext* ctx) {
  auto auth = ctx->auth_context();
  if (!auth) return "";
  auto values = auth->FindPropertyValues("x509_pem_cert");
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

// Caller-supplied text echoed in messages: escaped and bounded.
std::string Quote(const std::string& s) {
  std::string escaped = absl::CHexEscape(s.substr(0, 64));
  if (s.size() > 64) escaped += "...";
  return absl::StrCat("'", escaped, "'");
}

v1::AuditReceipt ToReceipt(const AppendResult& r, const std::string& node) {
  v1::AuditReceipt receipt;
  receipt.set_sequence_number(r.sequence_number);
  receipt.set_record_hash(r.record_hash);
  receipt.set_node_id(node);
  return receipt;
}

// A refusal as a gRPC status whose details carry a packed ErrorDetail (in a
// google.rpc.Status-compatible RpcStatus).
grpc::Status ErrorStatus(const Refusal& r, const std::string& request_id,
                         const AppendResult* receipt,
                         const std::string& node_id) {
  v1::ErrorDetail detail;
  detail.set_reason(r.reason);
  detail.set_message(r.message);
  detail.set_legal_basis(r.legal_basis);
  detail.set_policy_rule_id(r.rule_id);
  detail.set_request_id(request_id);
  if (receipt != nullptr)
    *detail.mutable_receipt() = ToReceipt(*receipt, node_id);
  v1::RpcStatus status;
  status.set_code(static_cast<int>(r.code));
  status.set_message(r.message);
  status.add_details()->PackFrom(detail);
  return grpc::Status(static_cast<grpc::StatusCode>(r.code), r.message,
                      status.SerializeAsString());
}

Refusal AdapterFailure(const grpc::Status& s, absl::Duration timeout) {
  Refusal r;
  switch (s.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      r.code = absl::StatusCode::kDeadlineExceeded;
      r.reason = v1::REASON_ADAPTER_TIMEOUT;
      r.message = absl::StrCat(
          "the provider's adapter did not answer within ",
          absl::FormatDuration(timeout),
          " (or your deadline or expires_at came first); retry later");
      break;
    case grpc::StatusCode::UNAVAILABLE:
      r.code = absl::StatusCode::kUnavailable;
      r.reason = v1::REASON_ADAPTER_UNAVAILABLE;
      r.message =
          absl::StrCat("the provider's adapter is unavailable; retry later (",
                       s.error_message(), ")");
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
      r.code = static_cast<absl::StatusCode>(s.error_code());
      r.reason = v1::REASON_ADAPTER_ERROR;
      r.message = absl::StrCat("the provider's adapter refused the query: ",
                               s.error_message());
      break;
    case grpc::StatusCode::CANCELLED:
      r.code = absl::StatusCode::kCancelled;
      r.reason = v1::REASON_ADAPTER_ERROR;
      r.message = "the call was cancelled";
      break;
    default:
      r.code = absl::StatusCode::kUnavailable;
      r.reason = v1::REASON_ADAPTER_ERROR;
      r.message = absl::StrCat("the provider's adapter failed (code ",
                               s.error_code(), ": ", s.error_message(), ")");
  }
  return r;
}

Refusal AuditFailure(const absl::Status& s) {
  Refusal r;
  r.code = absl::StatusCode::kUnavailable;
  r.reason = v1::REASON_AUDIT_UNAVAILABLE;
  r.message = absl::StrCat(
      "the gateway cannot record the exchange in its audit log, so it "
      "serves nothing; retry later (",
      s.message(), ")");
  return r;
}

Refusal InternalFailure(const absl::Status& s) {
  Refusal r;
  r.code = absl::StatusCode::kInternal;
  r.reason = v1::REASON_INTERNAL;
  r.message = std::string(s.message());
  return r;
}

void RecordOutcome(const Refusal& r, v1::Decision decision,
                   v1::AuditRecord* record) {
  record->set_decision(decision);
  record->set_reason(r.reason);
  record->set_status_code(static_cast<int>(r.code));
  record->set_message(r.message);
  if (!r.rule_id.empty()) record->set_policy_rule_id(r.rule_id);
}

}  // namespace

// What the checks before forwarding found out.
struct ExchangeService::Admission {
  CheckedRequest checked;
  const v1::Dataset* dataset = nullptr;
  policy::AccessDecision decision;
  Refusal refusal;
  absl::Time received;
  v1::AuditRecord record;
  std::string mask_key;  // for hash masks: per consumer (policy/masking.h)

  const v1::RequestEnvelope& env() const { return checked.envelope; }

  void Run(const Deps& deps, bool accepting, grpc::CallbackServerContext* ctx,
           const v1::SignedRequest& request, v1::RecordKind kind) {
    received = deps.clock->Now();
    record.set_kind(kind);
    record.set_node_id(deps.node_id);
    record.set_received_unix_micros(absl::ToUnixMicros(received));
    record.set_peer(ctx->peer());
    if (!accepting) {
      refusal.code = absl::StatusCode::kUnavailable;
      refusal.reason = v1::REASON_GATEWAY_UNAVAILABLE;
      refusal.message = "the gateway is shutting down; retry shortly";
    } else if (absl::Status health = deps.audit->Health(); !health.ok()) {
      // Fail closed before any work: nothing can be served unaudited.
      refusal = AuditFailure(health);
    } else {
      refusal = deps.checker->Check(request, PeerPem(ctx), &checked);
    }
    FillRecordFromRequest(deps);
    if (refusal.refused()) return;
    const v1::RequestEnvelope& e = env();
    dataset = deps.registry->FindDataset(e.dataset_id());
    if (dataset == nullptr) {
      Refuse(absl::StatusCode::kNotFound, v1::REASON_UNKNOWN_DATASET,
             absl::StrCat("dataset ", Quote(e.dataset_id()),
                          " is not in the registry; check the dataset id"));
      return;
    }
    record.set_provider_agency(dataset->provider_agency());
    if (!deps.registry->HasSystem(e.consumer_agency(), e.consumer_system())) {
      Refuse(absl::StatusCode::kPermissionDenied, v1::REASON_UNKNOWN_CONSUMER,
             absl::StrCat("system ", Quote(e.consumer_system()), " of agency ",
                          e.consumer_agency(),
                          " is not registered with this gateway"));
      return;
    }
    for (const std::string& f : e.fields()) {
      if (!deps.registry->HasField(*dataset, f)) {
        Refuse(absl::StatusCode::kInvalidArgument, v1::REASON_UNKNOWN_FIELD,
               absl::StrCat("field ", Quote(f), " is not in dataset ",
                            dataset->id(), "'s schema"));
        return;
      }
    }
    policy::AccessRequest ar;
    ar.consumer_agency = e.consumer_agency();
    ar.dataset_id = dataset->id();
    ar.purpose_code = e.purpose_code();
    ar.operation = e.operation();
    ar.fields.assign(e.fields().begin(), e.fields().end());
    ar.has_data_subject_id = !e.data_subject_id().empty();
    ar.consent_reference = e.consent_reference();
    decision = deps.authorizer->Decide(ar);
    record.set_policy_version(decision.policy_version);
    record.set_policy_rule_id(decision.rule_id);
    *record.mutable_matched_rule_ids() = {decision.matched_rule_ids.begin(),
                                          decision.matched_rule_ids.end()};
    if (!decision.allowed) {
      Refuse(decision.code, decision.reason, decision.message);
      refusal.legal_basis = decision.legal_basis;
      refusal.rule_id = decision.rule_id;
      return;
    }
    for (const auto& m : decision.masks) record.add_masked_fields(m.field);
    if (decision.row_filter) record.set_row_filter(decision.row_filter->text());
    if (std::any_of(decision.masks.begin(), decision.masks.end(),
                    [](const policy::MaskSpec& m) {
                      return m.kind == v1::MASK_KIND_HASH;
                    })) {
      mask_key = policy::MaskKeyFor(deps.subject_hmac_key, e.consumer_agency());
    }
  }

  // The record limit: the caller's, the gateway's and the daily quota's.
  uint64_t RecordLimit(uint64_t gateway_limit) const {
    uint64_t limit = gateway_limit;
    auto lower = [&limit](uint64_t other) {
      if (other != 0 && (limit == 0 || other < limit)) limit = other;
    };
    lower(env().max_records());
    lower(decision.max_records);
    return limit;
  }

  // Filters, projects and masks `in` into `out` as the decision says.
  uint64_t Filter(v1::RecordBatch* in, uint64_t max_rows,
                  v1::RecordBatch* out) const {
    if (NeedsRowWork(decision)) {
      return ApplyDecision(decision, mask_key, *in, max_rows, out);
    }
    return TakeProjected(in, decision.fields, max_rows, out);
  }

  void Refuse(absl::StatusCode code, v1::ReasonCode reason, std::string msg) {
    refusal.code = code;
    refusal.reason = reason;
    refusal.message = std::move(msg);
  }

  void FillRecordFromRequest(const Deps& deps) {
    record.set_tls_agency(checked.tls_agency);
    record.set_request_sha256(checked.request_sha256);
    record.set_signer_cert_sha256(checked.signer_fingerprint);
    if (!checked.envelope_parsed) return;
    const v1::RequestEnvelope& e = env();
    record.set_request_id(e.request_id());
    record.set_consumer_agency(e.consumer_agency());
    record.set_consumer_system(e.consumer_system());
    record.set_dataset_id(e.dataset_id());
    record.set_operation(e.operation());
    *record.mutable_requested_fields() = e.fields();
    record.set_purpose_code(e.purpose_code());
    record.set_legal_basis(e.legal_basis());
    record.set_consent_reference(e.consent_reference());
    record.set_nonce(e.nonce());
    record.set_request_expires_unix_micros(
        absl::ToUnixMicros(FromTimestamp(e.expires_at())));
    if (!e.data_subject_id().empty()) {
      record.set_data_subject_hmac(
          certs::HmacSha256(deps.subject_hmac_key, e.data_subject_id()));
    }
  }

  v1::AdapterRequest AdapterRequestFor(uint32_t max_records,
                                       uint32_t batch_rows) const {
    v1::AdapterRequest req;
    req.set_request_id(env().request_id());
    req.set_dataset_id(dataset->id());
    req.set_consumer_agency(env().consumer_agency());
    req.set_purpose_code(env().purpose_code());
    for (const auto& f : decision.adapter_fields) req.add_fields(f);
    *req.mutable_query() = env().query();
    req.set_data_subject_id(env().data_subject_id());
    req.set_max_records(max_records);
    req.set_batch_rows(batch_rows);
    return req;
  }

  // The adapter's deadline: its timeout, bounded by the request's expiry
  // and the caller's own deadline.
  absl::Time AdapterDeadline(const Deps& deps,
                             grpc::CallbackServerContext* ctx) const {
    absl::Duration timeout = deps.adapter_timeout;
    if (dataset->adapter().timeout_ms() != 0) {
      timeout = absl::Milliseconds(dataset->adapter().timeout_ms());
    }
    absl::Time deadline =
        std::min(received + timeout, FromTimestamp(env().expires_at()));
    return std::min(deadline, absl::FromChrono(ctx->deadline()));
  }

  absl::Duration AdapterTimeout(const Deps& deps) const {
    return dataset->adapter().timeout_ms() != 0
               ? absl::Milliseconds(dataset->adapter().timeout_ms())
               : deps.adapter_timeout;
  }

  // Signs a response envelope and fills `out`.
  static absl::Status Sign(const Deps& deps, const v1::ResponseEnvelope& env,
                           v1::SignedResponse* out) {
    std::string bytes;
    env.SerializeToString(&bytes);
    auto sig = deps.signer->Sign(bytes);
    if (!sig.ok()) return sig.status();
    out->set_envelope(std::move(bytes));
    out->set_signature(*std::move(sig));
    out->set_signer_certificate(deps.signer->certificate_der());
    return absl::OkStatus();
  }

  v1::ResponseEnvelope ResponseBase(const Deps& deps,
                                    const AppendResult& receipt) const {
    v1::ResponseEnvelope r;
    r.set_request_sha256(checked.request_sha256);
    r.set_request_id(env().request_id());
    r.set_status(v1::RESPONSE_STATUS_OK);
    r.set_gateway_node_id(deps.node_id);
    *r.mutable_receipt() = ToReceipt(receipt, deps.node_id);
    SetTimestamp(deps.clock->Now(), r.mutable_issued_at());
    r.set_policy_version(decision.policy_version);
    return r;
  }

  void StampTotal(const Deps& deps) {
    const absl::Time now = deps.clock->Now();
    record.set_time_unix_micros(absl::ToUnixMicros(now));
    record.set_total_micros(absl::ToInt64Microseconds(now - received));
  }
};

// ---------------------------------------------------------------- unary --

class ExchangeService::UnaryCall {
 public:
  UnaryCall(ExchangeService* service, grpc::CallbackServerContext* ctx,
            v1::SignedResponse* response)
      : slot_(service),
        deps_(service->deps_),
        ctx_(ctx),
        response_(response),
        reactor_(ctx->DefaultReactor()) {}

  grpc::ServerUnaryReactor* Start(bool accepting,
                                  const v1::SignedRequest& request) {
    grpc::ServerUnaryReactor* reactor = reactor_;
    a_.Run(deps_, accepting, ctx_, request, v1::RECORD_KIND_EXCHANGE);
    if (a_.refusal.refused()) {
      Fail(a_.refusal, v1::DECISION_DENY);
    } else {
      Forward();
    }
    return reactor;  // `this` may already be gone
  }

 private:
  void Forward() {
    max_records_ =
        static_cast<uint32_t>(a_.RecordLimit(deps_.max_records_unary));
    // With a row filter, the adapter's rows are not all the consumer's: ask
    // for as many as the gateway allows, and apply the limit after filtering.
    adapter_request_ = a_.AdapterRequestFor(
        a_.decision.row_filter ? deps_.max_records_unary : max_records_, 0);
    client_ctx_.set_deadline(
        absl::ToChronoTime(a_.AdapterDeadline(deps_, ctx_)));
    adapter_started_ = deps_.clock->Now();
    deps_.adapters->FetchRaw(
        a_.dataset->adapter(), &client_ctx_, &adapter_request_, &adapter_bytes_,
        [this](grpc::Status s) { OnAdapterDone(std::move(s)); });
  }

  void OnAdapterDone(grpc::Status s) {
    a_.record.set_adapter_micros(
        absl::ToInt64Microseconds(deps_.clock->Now() - adapter_started_));
    if (s.ok() && !grpc::SerializationTraits<v1::AdapterResponse>::Deserialize(
                       &adapter_bytes_, &adapter_response_)
                       .ok()) {
      s = grpc::Status(grpc::StatusCode::INTERNAL,
                       "its answer is not a dx.v1.AdapterResponse");
    }
    if (!s.ok()) {
      Fail(AdapterFailure(s, a_.AdapterTimeout(deps_)), v1::DECISION_ERROR);
      return;
    }
    const uint64_t n =
        a_.Filter(adapter_response_.mutable_records(), max_records_, &records_);
    deps_.authorizer->RecordsServed(a_.decision, n);
    *a_.record.mutable_returned_fields() = records_.columns();
    a_.record.set_record_count(n);
    a_.record.set_response_sha256(certs::Sha256(records_.SerializeAsString()));
    a_.record.set_decision(v1::DECISION_ALLOW);
    a_.StampTotal(deps_);
    deps_.audit->Append(a_.record, [this](absl::StatusOr<AppendResult> r) {
      if (!r.ok()) {
        Finish(ErrorStatus(AuditFailure(r.status()), a_.env().request_id(),
                           nullptr, deps_.node_id));
        return;
      }
      v1::ResponseEnvelope env = a_.ResponseBase(deps_, *r);
      *env.mutable_records() = std::move(records_);
      absl::Status signed_ok = Admission::Sign(deps_, env, response_);
      if (!signed_ok.ok()) {
        Finish(ErrorStatus(InternalFailure(signed_ok), a_.env().request_id(),
                           &*r, deps_.node_id));
        return;
      }
      Finish(grpc::Status::OK);
    });
  }

  // Audits a refusal or failure, then answers with it (or with UNAVAILABLE
  // when even the audit fails).
  void Fail(const Refusal& refusal, v1::Decision decision) {
    RecordOutcome(refusal, decision, &a_.record);
    a_.StampTotal(deps_);
    refusal_ = refusal;
    deps_.audit->Append(a_.record, [this](absl::StatusOr<AppendResult> r) {
      const std::string& id = a_.env().request_id();
      if (!r.ok()) {
        Finish(
            ErrorStatus(AuditFailure(r.status()), id, nullptr, deps_.node_id));
      } else {
        Finish(ErrorStatus(refusal_, id, &*r, deps_.node_id));
      }
    });
  }

  void Finish(grpc::Status status) {
    reactor_->Finish(std::move(status));
    delete this;
  }

  InFlightSlot slot_;  // released when the call object goes
  const Deps& deps_;
  grpc::CallbackServerContext* const ctx_;
  v1::SignedResponse* const response_;
  grpc::ServerUnaryReactor* const reactor_;
  Admission a_;
  Refusal refusal_;
  uint32_t max_records_ = 0;
  absl::Time adapter_started_;
  grpc::ClientContext client_ctx_;
  v1::AdapterRequest adapter_request_;
  grpc::ByteBuffer adapter_bytes_;  // decoded by us (see AdapterPool)
  v1::AdapterResponse adapter_response_;
  v1::RecordBatch records_;
};

bool ExchangeService::TakeInFlightSlot() {
  const int64_t now = in_flight_.fetch_add(1) + 1;
  if (deps_.max_in_flight == 0 || now <= deps_.max_in_flight) return true;
  in_flight_.fetch_sub(1);
  overload_refusals_.fetch_add(1);
  return false;
}

grpc::Status ExchangeService::OverloadStatus() const {
  Refusal r;
  r.code = absl::StatusCode::kResourceExhausted;
  r.reason = v1::REASON_GATEWAY_UNAVAILABLE;
  r.message = absl::StrCat(
      "the gateway is at its limit of ", deps_.max_in_flight,
      " exchanges in flight; retry in a moment with a new request");
  return ErrorStatus(r, "", nullptr, deps_.node_id);
}

grpc::ServerUnaryReactor* ExchangeService::Call(
    grpc::CallbackServerContext* ctx, const v1::SignedRequest* request,
    v1::SignedResponse* response) {
  if (!TakeInFlightSlot()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(OverloadStatus());
    return reactor;
  }
  return (new UnaryCall(this, ctx, response))->Start(accepting_, *request);
}

// ------------------------------------------------------------ streaming --

// Bridges the adapter's stream to the consumer's with at most two batches in
// flight (one being written to the consumer while the next is received),
// so memory stays bounded whatever the size of the result.
class ExchangeService::StreamCall final
    : public grpc::ServerWriteReactor<v1::StreamMessage>,
      public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  StreamCall(ExchangeService* service, grpc::CallbackServerContext* ctx,
             const v1::SignedRequest& request)
      : slot_(service), deps_(service->deps_), ctx_(ctx) {
    a_.Run(deps_, service->accepting_, ctx, request,
           v1::RECORD_KIND_STREAM_START);
    if (a_.refusal.refused()) {
      a_.record.set_kind(v1::RECORD_KIND_EXCHANGE);
      FailAndAudit(a_.refusal, v1::DECISION_DENY);
      return;
    }
    max_records_ = a_.RecordLimit(0);
    // The start is durable before any record leaves.
    a_.record.set_decision(v1::DECISION_ALLOW);
    a_.StampTotal(deps_);
    deps_.audit->Append(a_.record, [this](absl::StatusOr<AppendResult> r) {
      if (!r.ok()) {
        FinishServer(ErrorStatus(AuditFailure(r.status()),
                                 a_.env().request_id(), nullptr,
                                 deps_.node_id));
        return;
      }
      start_sequence_ = r->sequence_number;
      StartAdapter();
    });
  }

  // Server side.
  void OnWriteDone(bool ok) override {
    if (finishing_) return;
    if (!ok) client_ctx_.TryCancel();  // the consumer went away
    bool send = false, complete = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) batch_ready_ = false;  // nobody to send it to
      if (batch_ready_) {
        batch_ready_ = false;
        writing_ = true;
        send = true;
      } else {
        complete = stream_ended_;
      }
    }
    if (send) SendBatchAndReadNext();
    if (complete) CompleteStream();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (adapter_started_) client_ctx_.TryCancel();
  }
  void OnDone() override {
    bool remove;
    {
      absl::MutexLock lock(&mu_);
      server_done_ = true;
      remove = !adapter_started_ || adapter_done_;
    }
    if (remove) delete this;
  }

  // Adapter side.
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone(status) follows
    if (max_records_ != 0 && record_count_ >= max_records_) {
      client_ctx_.TryCancel();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (writing_) {  // held in batch_in_ until the write completes
        batch_ready_ = true;
        return;
      }
      writing_ = true;
    }
    SendBatchAndReadNext();
  }
  void OnDone(const grpc::Status& s) override {
    a_.record.set_adapter_micros(
        absl::ToInt64Microseconds(deps_.clock->Now() - adapter_start_time_));
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

 private:
  void StartAdapter() {
    // With a row filter the limit applies after filtering (OnReadDone).
    adapter_request_ = a_.AdapterRequestFor(
        a_.decision.row_filter ? 0 : max_records_, deps_.stream_batch_rows);
    // A stream may run long: its deadline is the caller's, not the adapter
    // timeout (which bounds a single unary answer).
    client_ctx_.set_deadline(ctx_->deadline());
    adapter_start_time_ = deps_.clock->Now();
    {
      absl::MutexLock lock(&mu_);
      adapter_started_ = true;
      if (ctx_->IsCancelled()) client_ctx_.TryCancel();
    }
    deps_.adapters->FetchStreamRaw(a_.dataset->adapter(), &client_ctx_,
                                   &adapter_request_, this);
    grpc::ClientReadReactor<grpc::ByteBuffer>::StartRead(&batch_bytes_);
    grpc::ClientReadReactor<grpc::ByteBuffer>::StartCall();
  }

  // Projects the batch in batch_in_, writes it to the consumer, and reads
  // the next batch from the adapter meanwhile: two batches in flight at
  // most (one being written, one being received), so memory stays bounded
  // and neither side waits for the other. Caller has set writing_.
  void SendBatchAndReadNext() {
    // filtered_ is a member: swapped with batch_in_ back and forth, both
    // keep their allocated rows, which the next receive reuses.
    const uint64_t limit = max_records_ == 0 ? 0 : max_records_ - record_count_;
    absl::StatusOr<uint64_t> taken = absl::DataLossError(
        "the adapter sent a message that is not a dx.v1.RecordBatch");
    std::string* bytes = out_.mutable_batch();
    bytes->clear();
    if (NeedsRowWork(a_.decision)) {
      // Rows are decoded: the filter and masks look at every value.
      if (grpc::SerializationTraits<v1::RecordBatch>::Deserialize(&batch_bytes_,
                                                                  &rows_in_)
              .ok()) {
        taken = a_.Filter(&rows_in_, limit, &rows_out_);
        rows_out_.SerializeToString(bytes);
        if (returned_fields_.columns_size() == 0) {
          *returned_fields_.mutable_columns() = rows_out_.columns();
        }
      }
    } else if (grpc::SerializationTraits<v1::RawRecordBatch>::Deserialize(
                   &batch_bytes_, &batch_in_)
                   .ok()) {
      taken =
          TakeProjectedRaw(&batch_in_, a_.decision.fields, limit, &filtered_);
      if (taken.ok()) {
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
      return;
    }
    record_count_ += *taken;
    digest_.append(certs::Sha256(*bytes));
    ++batch_count_;
    grpc::ServerWriteReactor<v1::StreamMessage>::StartWrite(&out_);
    grpc::ClientReadReactor<grpc::ByteBuffer>::StartRead(&batch_bytes_);
  }

  // After the adapter's stream ended and every batch was written.
  void CompleteStream() {
    // Records that left count against the daily quota, however it ends.
    deps_.authorizer->RecordsServed(a_.decision, record_count_);
    const grpc::Status s = end_status_;
    // Cancelled by us because max_records was reached counts as success.
    const bool limit_reached =
        max_records_ != 0 && record_count_ >= max_records_;
    if (!adapter_error_.empty()) {
      Refusal r = AdapterFailure(
          grpc::Status(grpc::StatusCode::INTERNAL, adapter_error_),
          a_.AdapterTimeout(deps_));
      PrepareEnd(r, v1::DECISION_ERROR);
      FailAndAudit(r, v1::DECISION_ERROR);
    } else if (s.ok() || (limit_reached && s.error_code() == grpc::CANCELLED)) {
      FinishSuccess();
    } else if (ctx_->IsCancelled()) {
      Refusal r;
      r.code = absl::StatusCode::kCancelled;
      r.reason = v1::REASON_UNSPECIFIED;
      r.message = "the consumer cancelled the stream";
      PrepareEnd(r, v1::DECISION_ERROR);
      FailAndAudit(r, v1::DECISION_ERROR);
    } else {
      Refusal r = AdapterFailure(s, a_.AdapterTimeout(deps_));
      PrepareEnd(r, v1::DECISION_ERROR);
      FailAndAudit(r, v1::DECISION_ERROR);
    }
  }

  void PrepareEnd(const Refusal& r, v1::Decision decision) {
    a_.record.set_kind(v1::RECORD_KIND_STREAM_END);
    a_.record.set_stream_start_sequence(start_sequence_);
    RecordOutcome(r, decision, &a_.record);
  }

  std::string BatchesDigest() const { return certs::Sha256(digest_); }

  void FinishSuccess() {
    a_.record.set_kind(v1::RECORD_KIND_STREAM_END);
    a_.record.set_stream_start_sequence(start_sequence_);
    a_.record.set_decision(v1::DECISION_ALLOW);
    a_.record.set_record_count(record_count_);
    *a_.record.mutable_returned_fields() = returned_fields_.columns();
    a_.record.set_response_sha256(BatchesDigest());
    a_.StampTotal(deps_);
    deps_.audit->Append(a_.record, [this](absl::StatusOr<AppendResult> r) {
      if (!r.ok()) {
        FinishServer(ErrorStatus(AuditFailure(r.status()),
                                 a_.env().request_id(), nullptr,
                                 deps_.node_id));
        return;
      }
      v1::ResponseEnvelope env = a_.ResponseBase(deps_, *r);
      env.set_batch_count(batch_count_);
      env.set_record_count(record_count_);
      env.set_batches_digest(BatchesDigest());
      absl::Status st = Admission::Sign(deps_, env, out_.mutable_final());
      if (!st.ok()) {
        FinishServer(ErrorStatus(InternalFailure(st), a_.env().request_id(),
                                 &*r, deps_.node_id));
        return;
      }
      finishing_ = true;
      grpc::ServerWriteReactor<v1::StreamMessage>::StartWriteAndFinish(
          &out_, grpc::WriteOptions(), grpc::Status::OK);
    });
  }

  void FailAndAudit(const Refusal& refusal, v1::Decision decision) {
    RecordOutcome(refusal, decision, &a_.record);
    a_.StampTotal(deps_);
    refusal_ = refusal;
    deps_.audit->Append(a_.record, [this](absl::StatusOr<AppendResult> r) {
      const std::string& id = a_.env().request_id();
      FinishServer(r.ok() ? ErrorStatus(refusal_, id, &*r, deps_.node_id)
                          : ErrorStatus(AuditFailure(r.status()), id, nullptr,
                                        deps_.node_id));
    });
  }

  void FinishServer(grpc::Status status) {
    finishing_ = true;
    grpc::ServerWriteReactor<v1::StreamMessage>::Finish(std::move(status));
  }

  InFlightSlot slot_;  // released when the call object goes
  const Deps& deps_;
  grpc::CallbackServerContext* const ctx_;
  Admission a_;
  Refusal refusal_;
  uint64_t start_sequence_ = 0;
  uint64_t max_records_ = 0;
  uint64_t record_count_ = 0;
  uint64_t batch_count_ = 0;
  std::string digest_;  // concatenated SHA-256 of each batch sent
  v1::RecordBatch returned_fields_;
  std::atomic<bool> finishing_{false};
  absl::Time adapter_start_time_;
  grpc::ClientContext client_ctx_;
  v1::AdapterRequest adapter_request_;
  grpc::ByteBuffer batch_bytes_;  // decoded by us (see AdapterPool)
  v1::RawRecordBatch batch_in_;
  v1::RawRecordBatch filtered_;
  v1::RecordBatch rows_in_, rows_out_;  // when rows are filtered or masked
  std::string adapter_error_;           // set when the adapter sent a bad batch
  v1::StreamMessage out_;

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;       // a batch write is out
  bool batch_ready_ ABSL_GUARDED_BY(mu_) = false;   // batch_in_ awaits it
  bool stream_ended_ ABSL_GUARDED_BY(mu_) = false;  // adapter's OnDone came
  grpc::Status end_status_;  // set with stream_ended_, read after
  bool adapter_started_ ABSL_GUARDED_BY(mu_) = false;
  bool adapter_done_ ABSL_GUARDED_BY(mu_) = false;
  bool server_done_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// Answers a stream with a status and nothing else.
class RefusedStream final : public grpc::ServerWriteReactor<v1::StreamMessage> {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::StreamMessage>* ExchangeService::Stream(
    grpc::CallbackServerContext* ctx, const v1::SignedRequest* request) {
  if (!TakeInFlightSlot()) return new RefusedStream(OverloadStatus());
  return new StreamCall(this, ctx, *request);
}

}  // namespace dx::gateway
