#include "gateway/internal/unary_call.h"

#include "absl/strings/str_cat.h"
#include "gateway/internal/closing.h"
#include "gateway/internal/forwarding.h"
#include "gateway/peer_pool.h"

namespace dx::gateway::internal {

UnaryCall::UnaryCall(const ExchangeDeps& deps, InFlightLimiter* limiter,
                     grpc::CallbackServerContext* ctx,
                     v1::SignedResponse* response)
    : slot_(limiter),
      deps_(deps),
      response_(response),
      a_(deps, ctx, v1::RECORD_KIND_EXCHANGE) {}

void UnaryCall::Start(bool accepting, const v1::SignedRequest& request) {
  request_ = &request;  // gRPC's, alive until the call is done
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
  if (a_.ServedByPeer()) {
    Forward();
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

void UnaryCall::Forward() {
  if (deps_.federation == nullptr || deps_.peers == nullptr) {
    MainBranchDone(
        Refusal::For(v1::REASON_PEER_UNAVAILABLE,
                     absl::StrCat("dataset ", a_.env().dataset_id(),
                                  " is served by a peer platform, and this "
                                  "node has no federation configured")),
        v1::DECISION_ERROR);
    return;
  }
  if (Refusal r = a_.CheckLeaving(); r.refused()) {
    MainBranchDone(std::move(r), v1::DECISION_DENY);
    return;
  }
  absl::StatusOr<PeerRoute> route =
      deps_.federation->RouteTo(*a_.decision().dataset);
  if (!route.ok()) {
    MainBranchDone(Refusal::For(v1::REASON_PEER_UNAVAILABLE,
                                std::string(route.status().message())),
                   v1::DECISION_ERROR);
    return;
  }
  route_ = *std::move(route);
  const v1::FederationGateway& gateway = route_.gateways.front();
  a_.record().set_routed_to_platform(route_.platform_id);
  a_.record().set_routed_to_gateway(gateway.address());
  // The consumer's signed bytes go on as they came (the envelope is a
  // bytes field: parsing and serializing the SignedRequest keeps them).
  bool own_buffer = false;
  if (!grpc::SerializationTraits<v1::SignedRequest>::Serialize(
           *request_, &forward_request_, &own_buffer)
           .ok()) {
    MainBranchDone(InternalFailure(absl::InternalError(
                       "cannot serialize the request to forward")),
                   v1::DECISION_ERROR);
    return;
  }
  absl::StatusOr<std::string> origin = a_.OnwardOrigin();
  if (!origin.ok()) {
    MainBranchDone(InternalFailure(origin.status()), v1::DECISION_ERROR);
    return;
  }
  client_ctx_.set_deadline(absl::ToChronoTime(a_.ForwardDeadline()));
  client_ctx_.AddMetadata("dx-origin-bin", *origin);
  client_ctx_.AddMetadata("dx-hop-path", a_.OnwardPath());
  client_ctx_.AddMetadata("dx-hop-limit", std::to_string(a_.OnwardLimit()));
  a_.AdapterStarting();
  deps_.peers->CallRaw(gateway, route_.roots_pem, &client_ctx_,
                       &forward_request_, &forward_bytes_,
                       [this](grpc::Status s) { OnForwarded(std::move(s)); });
}

void UnaryCall::OnForwarded(grpc::Status s) {
  a_.AdapterDone(s.error_code());
  const v1::FederationGateway& gateway = route_.gateways.front();
  if (!s.ok()) {
    v1::ErrorDetail detail;
    if (PeerErrorDetail(s, &detail)) {
      // The peer refused and said why: the consumer gets its status as it
      // came (its reason, legal basis and receipt, naming its platform).
      relay_status_ = true;
      relayed_status_ = s;
      const Refusal recorded =
          RecordedPeerRefusal(s, detail, route_.platform_id);
      MainBranchDone(
          recorded,
          s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                  s.error_code() == grpc::StatusCode::INTERNAL ||
                  s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
              ? v1::DECISION_ERROR
              : v1::DECISION_DENY);
      return;
    }
    MainBranchDone(PeerFailure(s, route_, gateway), v1::DECISION_ERROR);
    return;
  }
  v1::ResponseEnvelope env;
  const std::string serving =
      deps_.federation->ServingPlatform(*a_.decision().dataset, route_);
  absl::Status checked =
      grpc::SerializationTraits<v1::SignedResponse>::Deserialize(
          &forward_bytes_, &relayed_)
              .ok()
          ? CheckRelayedAnswer(*deps_.federation, relayed_, a_.request_sha256(),
                               serving, &env)
          : absl::DataLossError("it is not a dx.v1.SignedResponse");
  if (checked.ok()) checked = CheckAnswerFits(env);
  if (!checked.ok()) {
    MainBranchDone(
        Refusal::For(v1::REASON_PEER_UNAVAILABLE,
                     absl::StrCat("the answer of platform ", route_.platform_id,
                                  "'s gateway ", gateway.address(),
                                  " is refused, nothing of it is relayed: ",
                                  checked.message())),
        v1::DECISION_ERROR);
    return;
  }
  // Over what this platform lets the consumer have today, or at once: the
  // consumer's signed max_records could not be lowered in transit.
  const uint64_t limit = a_.RecordLimit(deps_.max_records_unary);
  const uint64_t rows = static_cast<uint64_t>(env.records().rows_size());
  if (limit != 0 && rows > limit) {
    const bool quota =
        a_.LimitKind(deps_.max_records_unary) == v1::TRUNCATION_DAILY_QUOTA;
    MainBranchDone(
        Refusal::For(
            quota ? v1::REASON_QUOTA_EXCEEDED : v1::REASON_ANSWER_TOO_LARGE,
            absl::StrCat("the answer of platform ", route_.platform_id,
                         " holds ", rows, " records, over the ", limit,
                         quota ? " your day's quota here leaves"
                               : " this platform passes on in one answer",
                         ": ask with max_records at most ", limit)),
        v1::DECISION_DENY);
    return;
  }
  v1::AuditRecord& record = a_.record();
  *record.mutable_returned_fields() = env.records().columns();
  record_count_ = static_cast<uint64_t>(env.records().rows_size());
  record.set_record_count(record_count_);
  record.set_truncated(env.truncated());
  record.set_response_sha256(certs::Sha256(env.records().SerializeAsString()));
  MainBranchDone(Refusal(), v1::DECISION_ALLOW);
}

absl::Status UnaryCall::CheckAnswerFits(const v1::ResponseEnvelope& env) const {
  // Only what was asked and allowed may come back.
  const auto& asked = a_.env().fields();
  const std::vector<std::string>& allowed = a_.decision().fields;
  for (const std::string& column : env.records().columns()) {
    const bool ok =
        asked.empty()
            ? std::find(allowed.begin(), allowed.end(), column) != allowed.end()
            : std::find(asked.begin(), asked.end(), column) != asked.end();
    if (!ok) {
      return absl::PermissionDeniedError(absl::StrCat(
          "it holds field ", column, ", which was not asked for or allowed"));
    }
  }
  return absl::OkStatus();
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
    if (relay_status_) {
      CloseRelayed(deps_, &a_, main, decision, relayed_status_,
                   std::move(finish));
      return;
    }
    CloseRefused(deps_, &a_, main, decision, std::move(finish));
    return;
  }
  if (!route_.platform_id.empty()) {
    // A relayed answer: the provider's signed bytes as they came, and this
    // hop's receipt beside them.
    CloseAllowed(
        deps_, &a_,
        [this](const audit::AppendResult& receipt) {
          *response_ = std::move(relayed_);
          return AddHopReceipt(*deps_.signer, deps_.federation->platform_id(),
                               deps_.node_id, a_.request_sha256(),
                               route_.platform_id, receipt, deps_.clock->Now(),
                               response_);
        },
        std::move(finish));
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
