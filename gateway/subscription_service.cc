#include "gateway/subscription_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "dx/v1/adapter.grpc.pb.h"
#include "gateway/envelope_terms.h"
#include "gateway/internal/admission.h"
#include "gateway/internal/subscription_service_peer.h"
#include "gateway/subscription_chain.h"
#include "policy/masking.h"
#include "policy/policy_authorizer.h"
#include "policy/quota_store.h"

namespace dx::gateway {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

Refusal Unsupported(std::string message) {
  return Refusal::Of(absl::StatusCode::kInvalidArgument,
                     v1::REASON_SUBSCRIPTION_UNSUPPORTED, std::move(message));
}

// The terms ride in the signed envelope after the RequestEnvelope's fields
// (subscription.proto): parsing the same bytes reads them.
Refusal ReadTerms(const std::string& envelope, const TermsCarried& carried,
                  v1::SubscriptionTerms* terms) {
  if (!terms->ParseFromString(envelope)) {
    return Unsupported("the envelope's subscription terms do not parse");
  }
  if (carried.ack) {
    return Unsupported(
        "this envelope carries AckTerms (fields 1011-1020): send it to "
        "dx.v1.Subscriptions/Ack, and a Subscribe with SubscriptionTerms");
  }
  if (terms->unsubscribe()) {
    if (terms->subscription_id().empty()) {
      return Unsupported("unsubscribe needs the subscription_id to end");
    }
    if (terms->start() != v1::START_FROM_UNSPECIFIED &&
        terms->start() != v1::START_FROM_CURSOR) {
      return Unsupported(
          "unsubscribe ends a subscription and start begins one: send one "
          "or the other");
    }
    return Refusal();
  }
  switch (terms->start()) {
    case v1::START_FROM_UNSPECIFIED:
    case v1::START_FROM_NOW:
    case v1::START_FROM_BEGINNING:
    case v1::START_FROM_SNAPSHOT:
      if (!terms->subscription_id().empty()) {
        return Unsupported(
            "subscription_id is for start START_FROM_CURSOR (a resume); a "
            "new subscription gets its id from the gateway");
      }
      return Refusal();
    case v1::START_FROM_CURSOR:
      if (terms->subscription_id().empty()) {
        return Unsupported(
            "START_FROM_CURSOR needs subscription_id and acked_sequence");
      }
      return Refusal();
    default:
      return Unsupported(absl::StrCat("unknown start ", terms->start()));
  }
}

Refusal Unknown(const std::string& id) {
  return Refusal::For(
      v1::REASON_SUBSCRIPTION_UNKNOWN,
      absl::StrCat("no subscription '", id,
                   "' of this agency and dataset on this gateway (it may "
                   "have been unsubscribed, or have expired after "
                   "idle_expiry_days without a stream, an ack or a resume); "
                   "subscribe anew (START_FROM_NOW)"));
}

// What a subscription's other records repeat of its start record: who,
// what, under which policy.
v1::AuditRecord Derived(const v1::AuditRecord& start, v1::RecordKind kind) {
  v1::AuditRecord r;
  r.set_kind(kind);
  r.set_node_id(start.node_id());
  r.set_tls_agency(start.tls_agency());
  r.set_consumer_agency(start.consumer_agency());
  r.set_consumer_system(start.consumer_system());
  r.set_signer_cert_sha256(start.signer_cert_sha256());
  r.set_tls_cert_sha256(start.tls_cert_sha256());
  r.set_identity_verified(start.identity_verified());
  r.set_request_id(start.request_id());
  r.set_dataset_id(start.dataset_id());
  r.set_provider_agency(start.provider_agency());
  r.set_operation(start.operation());
  r.set_purpose_code(start.purpose_code());
  r.set_legal_basis(start.legal_basis());
  r.set_policy_version(start.policy_version());
  r.set_policy_rule_id(start.policy_rule_id());
  *r.mutable_matched_rule_ids() = start.matched_rule_ids();
  *r.mutable_masked_fields() = start.masked_fields();
  r.set_row_filter(start.row_filter());
  r.set_peer(start.peer());
  r.set_subscription_id(start.subscription_id());
  return r;
}

// How a change's record key is shown to the consumer. The key is the value
// of the dataset's first field (its key, as the file adapter indexes it), so
// it is shown as that field would be: as is when granted, masked as the
// grant masks it, and as a per-consumer hash token when the field is not
// granted, so that updates and deletes of one record still match up
// without the consumer learning the key.
using KeyShown = std::function<std::string(const std::string&)>;
KeyShown KeyShownFor(const policy::AccessDecision& d, std::string mask_key) {
  policy::MaskSpec spec;
  spec.kind = v1::MASK_KIND_HASH;
  bool granted = false;
  if (d.dataset != nullptr && d.dataset->fields_size() > 0) {
    const std::string& key_field = d.dataset->fields(0).name();
    granted = std::find(d.fields.begin(), d.fields.end(), key_field) !=
              d.fields.end();
    spec.field = key_field;
    for (const auto& m : d.masks) {
      if (m.field == key_field) {
        spec = m;
        granted = false;  // masked: shown as the mask says
      }
    }
  }
  if (granted) return [](const std::string& key) { return key; };
  return [spec, mask_key = std::move(mask_key)](const std::string& key) {
    return policy::MaskValue(spec, key, mask_key);
  };
}

// A provider position as the audit log and the consumer's messages show
// it. A position inside a snapshot ("snapshot:P:<key>", subscription.proto)
// names a record by its key: a key the consumer may not be granted (or
// that lies outside its rows), and that the log must not hold in clear. Only
// its "snapshot:P" part is shown; the state store keeps it whole, to resume.
std::string ShownPosition(absl::string_view position) {
  constexpr absl::string_view kSnapshot = "snapshot:";
  if (!absl::StartsWith(position, kSnapshot)) return std::string(position);
  const size_t colon = position.find(':', kSnapshot.size());
  if (colon == absl::string_view::npos) return std::string(position);
  return absl::StrCat(position.substr(0, colon), ":(key withheld)");
}

// Whether a change's record key names a person: the dataset's key field
// (its first) is tagged personal. Then each event's key is a data subject's
// id, hashed into the batch's audit record for the subject's report.
bool KeyIsPersonal(const policy::AccessDecision& d) {
  if (d.dataset == nullptr || d.dataset->fields_size() == 0) return false;
  for (const std::string& tag : d.dataset->fields(0).tags()) {
    if (tag == "personal" || tag == "sensitive_personal") return true;
  }
  return false;
}

// Whether the record as it was before `change` (its previous_values, when
// the adapter sent them) passed the consumer's row filter.
bool WasInView(const internal::Admission* a,
               const google::protobuf::RepeatedPtrField<std::string>& columns,
               const v1::ProviderChange& change) {
  if (change.previous_values().values_size() == 0) return false;
  v1::RecordBatch before, out;
  *before.mutable_columns() = columns;
  *before.add_rows() = change.previous_values();
  return a->Filter(&before, 1, &out) > 0;
}

}  // namespace

struct SubscriptionService::Live {
  // Guarded by the service's mu_.
  v1::SubscriptionState state;
  grpc::ClientContext* adapter_ctx = nullptr;  // the feed being read
  bool stopping = false;
  std::string stop_reason;    // why, once stopping
  bool end_recorded = false;  // End wrote the stream's last record
  // Events delivered on this stream and not acknowledged, as told to the
  // observer (so that its end takes back exactly what it added).
  int64_t unacked_told = 0;
  absl::CondVar changed;  // an ack came, or stopping
};

SubscriptionService::SubscriptionService(
    const ExchangeDeps& deps, std::unique_ptr<SubscriptionStates> states,
    Options options)
    : deps_(deps), states_(std::move(states)), options_(options) {}

SubscriptionService::~SubscriptionService() { StopAccepting(); }

void SubscriptionService::StopAccepting() {
  accepting_ = false;
  absl::MutexLock lock(&mu_);
  for (auto& [id, live] : live_) {
    live->stopping = true;
    live->stop_reason = "the gateway is shutting down";
    if (live->adapter_ctx != nullptr) live->adapter_ctx->TryCancel();
    live->changed.SignalAll();
  }
}

absl::StatusOr<audit::AppendResult> SubscriptionService::AppendNow(
    v1::AuditRecord record) {
  absl::Notification done;
  absl::StatusOr<audit::AppendResult> out;
  record.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  deps_.audit->Append(std::move(record),
                      [&](absl::StatusOr<audit::AppendResult> r) {
                        out = std::move(r);
                        done.Notify();
                      });
  done.WaitForNotification();
  return out;
}

grpc::Status SubscriptionService::Refuse(internal::Admission* a,
                                         const Refusal& r,
                                         v1::Decision decision) {
  a->RecordOutcome(r, decision);
  a->StampTotal();
  auto receipt = AppendNow(a->record());
  if (!receipt.ok()) {
    return ErrorStatus(AuditFailure(receipt.status()), a->request_id(), nullptr,
                       deps_.node_id);
  }
  return ErrorStatus(r, a->request_id(), &*receipt, deps_.node_id);
}

Refusal SubscriptionService::Admit(internal::Admission* a, bool decide) {
  Refusal r;
  Cancellation cancel;
  absl::Notification replayed;
  a->CheckReplay(&cancel, [&](Refusal got) {
    r = std::move(got);
    replayed.Notify();
  });
  replayed.WaitForNotification();
  if (r.refused() || !decide) return r;
  return Decide(a, /*again=*/false);
}

Refusal SubscriptionService::Decide(internal::Admission* a, bool again) {
  Refusal r;
  Cancellation cancel;
  absl::Notification decided;
  a->Decide(
      /*max_records=*/0, &cancel,
      [&](Refusal got) {
        r = std::move(got);
        decided.Notify();
      },
      /*charge_quota=*/!again);
  decided.WaitForNotification();
  // The decision reserved records as for a look-up; events are charged
  // batch by batch instead (ChargeEvents): give the reservation back.
  if (!r.refused()) a->SettleQuota(0);
  return r;
}

Refusal SubscriptionService::Recheck(internal::Admission* a,
                                     const v1::SignedRequest& request) {
  Refusal r = a->RecheckCertificates(request);
  // Not charged again: the stream was charged as one request when it
  // opened (each resume is charged as one).
  if (!r.refused()) r = Decide(a, /*again=*/true);
  return r;
}

Refusal SubscriptionService::ChargeEvents(internal::Admission* a,
                                          uint64_t events) {
  const policy::AccessDecision& d = a->decision();
  if (options_.quotas == nullptr || d.quota_records_per_day == 0 ||
      events == 0) {
    return Refusal();
  }
  // All or none: a batch is signed and chained whole, so it is not cut to
  // what is left of the day; its events stay at the provider and are read
  // again when the consumer resumes (from its last acknowledgement).
  absl::StatusOr<policy::QuotaTakeResult> got;
  absl::Notification taken;
  Cancellation cancel;
  options_.quotas->Take(
      {{policy::DailyRecordsBucket(d, deps_.clock->Now()), events, events}},
      &cancel, [&](absl::StatusOr<policy::QuotaTakeResult> r) {
        got = std::move(r);
        taken.Notify();
      });
  taken.WaitForNotification();
  Refusal r;
  if (!got.ok()) {
    r = Refusal::Of(
        absl::StatusCode::kUnavailable, v1::REASON_QUOTA_STORE_UNAVAILABLE,
        absl::StrCat("the quota counters of grant ", d.rule_id,
                     " cannot be reached, so no more events are sent; "
                     "resume later (",
                     got.status().message(), ")"));
  } else if (!got->granted) {
    r = Refusal::Of(
        absl::StatusCode::kResourceExhausted, v1::REASON_QUOTA_EXCEEDED,
        absl::StrCat(
            "grant ", d.rule_id, " for agency ", a->env().consumer_agency(),
            ": the quota of ", d.quota_records_per_day,
            " records per day (events included) cannot take the next batch "
            "of ",
            events,
            " events; it renews at midnight (UTC+7): resume then, from your "
            "last acknowledged event",
            events > d.quota_records_per_day
                ? absl::StrCat("; a batch larger than the whole quota never "
                               "fits: ask for max_events_per_batch (",
                               options_.max_events_per_batch,
                               ") or the quota to change")
                : ""));
  }
  if (r.refused()) {
    r.rule_id = d.rule_id;
    r.legal_basis = d.legal_basis;
  }
  return r;
}

grpc::Status SubscriptionService::End(
    internal::Admission* a, grpc::ServerWriter<v1::SubscriptionMessage>* writer,
    Live* live, const ChainHead& head, const Refusal& ended, std::string* why) {
  *why = absl::StrCat("ended by the gateway: ", ended.message);
  v1::AuditRecord rec =
      Derived(a->record(), v1::RECORD_KIND_SUBSCRIPTION_CONTROL);
  rec.set_decision(v1::DECISION_DENY);
  rec.set_reason(ended.reason);
  rec.set_status_code(static_cast<int>(ended.code));
  rec.set_message(ended.message);
  if (!ended.rule_id.empty()) rec.set_policy_rule_id(ended.rule_id);
  rec.set_last_event_sequence(head.last_sequence);
  rec.set_subscription_event(*why);
  auto receipt = AppendNow(std::move(rec));
  {
    absl::MutexLock lock(&mu_);
    live->end_recorded = receipt.ok();
  }
  if (!receipt.ok()) {
    return ErrorStatus(AuditFailure(receipt.status()), a->request_id(), nullptr,
                       deps_.node_id);
  }
  v1::SubscriptionEnded e;
  {
    absl::MutexLock lock(&mu_);
    e.set_subscription_id(live->state.subscription_id());
  }
  e.set_dataset_id(a->env().dataset_id());
  e.set_reason(ended.reason);
  e.set_message(ended.message);
  e.set_rule_id(ended.rule_id);
  e.set_legal_basis(ended.legal_basis);
  e.set_policy_version(a->decision().policy_version);
  e.set_last_sequence(head.last_sequence);
  e.set_previous_batch_sha256(head.sha256);
  e.set_gateway_node_id(deps_.node_id);
  SetTimestamp(deps_.clock->Now(), e.mutable_issued_at());
  v1::AuditReceipt* out = e.mutable_receipt();
  out->set_sequence_number(receipt->sequence_number);
  out->set_record_hash(receipt->record_hash);
  out->set_node_id(deps_.node_id);
  if (options_.observer != nullptr) {
    options_.observer->StreamEnded(a->decision().dataset != nullptr
                                       ? a->decision().dataset->id()
                                       : a->env().dataset_id(),
                                   ended.reason);
  }
  auto signed_end = SignEnded(*deps_.signer, e);
  if (signed_end.ok()) {
    v1::SubscriptionMessage m;
    *m.mutable_ended() = *std::move(signed_end);
    (void)writer->Write(m);  // the status below says it too
  }
  return ErrorStatus(ended, a->request_id(), &*receipt, deps_.node_id);
}

absl::StatusOr<std::string> SubscriptionService::ProviderStart(
    internal::Admission* a, v1::StartFrom start) {
  auto stub = v1::Adapter::NewStub(deps_.adapters->ChannelFor(a->adapter()));
  grpc::ClientContext cctx;
  cctx.set_deadline(
      absl::ToChronoTime(deps_.clock->Now() + a->AdapterTimeout()));
  v1::ChangesRequest req;
  req.set_dataset_id(a->decision().dataset->id());
  req.set_position_only(true);
  req.set_from_end(start != v1::START_FROM_BEGINNING &&
                   start != v1::START_FROM_SNAPSHOT);
  req.set_snapshot_first(start == v1::START_FROM_SNAPSHOT);
  // An adapter that does not know position_only answers as a feed: at most
  // one change, and an idle batch within a second, so that its first batch
  // comes within the adapter timeout.
  req.set_max_changes(1);
  req.set_idle_seconds(1);
  req.set_consumer_agency(a->env().consumer_agency());
  for (const auto& f : a->decision().adapter_fields) req.add_fields(f);
  auto reader = stub->Changes(&cctx, req);
  v1::ChangeBatch first;
  const bool got = reader->Read(&first);
  if (got) cctx.TryCancel();  // else its status is the adapter's own
  grpc::Status st = reader->Finish();
  if (start == v1::START_FROM_SNAPSHOT && (!got || !first.in_snapshot())) {
    if (got || st.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
        st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the provider's adapter takes no snapshot of dataset ",
          a->decision().dataset->id(),
          got ? "" : absl::StrCat(" (", st.error_message(), ")"),
          "; subscribe from now (or from the beginning) and read the "
          "dataset once with Exchange.Stream"));
    }
  }
  if (!got && st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    // Permanent: retrying cannot help (UNAVAILABLE would say it could).
    return absl::FailedPreconditionError(
        absl::StrCat("the provider's adapter serves no change feed for "
                     "dataset ",
                     a->decision().dataset->id(), ": ", st.error_message()));
  }
  if (!got) {
    return absl::UnavailableError(absl::StrCat(
        "the adapter gave no change feed position: ", st.error_message()));
  }
  // An adapter older than position_only sends its first batch of changes
  // from the beginning: nothing to pin then (its end is past them).
  if (start == v1::START_FROM_BEGINNING && first.changes_size() > 0) {
    return std::string();
  }
  return first.end_position();
}

Refusal SubscriptionService::Open(internal::Admission* a,
                                  const v1::SubscriptionTerms& terms,
                                  std::shared_ptr<Live>* out) {
  const v1::RequestEnvelope& env = a->env();
  const bool resume = terms.start() == v1::START_FROM_CURSOR;
  v1::SubscriptionState state;
  if (!resume) {
    state.set_subscription_id(HexEncode(certs::RandomBytes(16)));
    state.set_consumer_agency(env.consumer_agency());
    state.set_dataset_id(env.dataset_id());
    state.set_purpose_code(env.purpose_code());
    state.set_created_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
    auto begin = ProviderStart(a, terms.start());
    if (absl::IsFailedPrecondition(begin.status())) {
      return Refusal::Of(absl::StatusCode::kFailedPrecondition,
                         v1::REASON_SUBSCRIPTION_UNSUPPORTED,
                         std::string(begin.status().message()));
    }
    if (!begin.ok()) {
      return AdapterFailure(static_cast<int>(grpc::StatusCode::UNAVAILABLE),
                            std::string(begin.status().message()),
                            a->AdapterTimeout());
    }
    state.set_start_position(*begin);
    state.set_acked_position(*begin);
  }
  absl::MutexLock lock(&mu_);
  if (!accepting_) return ShuttingDown();
  if (resume) {
    // The consumer came back while its old stream is still served (the
    // gateway notices a consumer gone at its next write, within a
    // heartbeat): the new stream takes over, once the old one has ended
    // and saved what it delivered.
    auto old = live_.find(terms.subscription_id());
    if (old != live_.end() &&
        old->second->state.consumer_agency() == env.consumer_agency() &&
        old->second->state.dataset_id() == env.dataset_id()) {
      std::shared_ptr<Live> prev = old->second;
      prev->stopping = true;
      prev->stop_reason = "taken over by a new stream";
      if (prev->adapter_ctx != nullptr) prev->adapter_ctx->TryCancel();
      prev->changed.SignalAll();
      const absl::Time until =
          absl::Now() + 2 * options_.heartbeat + absl::Seconds(1);
      while (live_.contains(terms.subscription_id()) &&
             !ended_.WaitWithDeadline(&mu_, until)) {
      }
    }
    // Under the lock: an Ack of this (not live) subscription may be saving.
    auto loaded = states_->Load(terms.subscription_id());
    if (!loaded.ok()) return InternalFailure(loaded.status());
    if (!loaded->has_value() ||
        (*loaded)->consumer_agency() != env.consumer_agency() ||
        (*loaded)->dataset_id() != env.dataset_id()) {
      return Unknown(terms.subscription_id());
    }
    state = **loaded;
  }
  auto it = live_.find(state.subscription_id());
  if (it != live_.end()) {
    return Refusal::For(
        v1::REASON_SUBSCRIPTION_BUSY,
        absl::StrCat("subscription ", state.subscription_id(),
                     " is being served on another stream; end that one, or "
                     "retry when the gateway has seen it end (within a "
                     "heartbeat)"));
  }
  if (live_.size() >= options_.max_subscriptions) {
    return Refusal::For(
        v1::REASON_SUBSCRIPTION_BUSY,
        absl::StrCat("this gateway serves its maximum of ",
                     options_.max_subscriptions,
                     " subscriptions; retry later or on another node"));
  }
  if (resume && terms.acked_sequence() != state.acked_sequence()) {
    return Refusal::For(
        v1::REASON_CURSOR_MISMATCH,
        absl::StrCat("the cursor says sequence ", terms.acked_sequence(),
                     " was acknowledged; the gateway holds ",
                     state.acked_sequence(),
                     ": resume from the last ack (events after it are sent "
                     "again)"));
  }
  // Delivered but not acknowledged: sent again, with the same numbers.
  state.clear_delivered();
  state.set_last_active_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  if (absl::Status s = states_->Save(state); !s.ok()) {
    return InternalFailure(s);
  }
  auto live = std::make_shared<Live>();
  live->state = std::move(state);
  live_.emplace(live->state.subscription_id(), live);
  *out = std::move(live);
  return Refusal();
}

void SubscriptionService::Close(const std::shared_ptr<Live>& live,
                                internal::Admission* a,
                                const std::string& why) {
  v1::AuditRecord r =
      Derived(a->record(), v1::RECORD_KIND_SUBSCRIPTION_CONTROL);
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(live->state.subscription_id());
    if (it != live_.end() && it->second == live) {
      // Served until now: the idle expiry counts from here. Before it
      // leaves live_, so that an unsubscribe's delete comes after.
      if (absl::Status s = StampActive(live->state.subscription_id(),
                                       deps_.clock->Now(), live.get());
          !s.ok()) {
        LogEvent(
            "dxgate", "warning",
            absl::StrCat("subscription ", live->state.subscription_id(),
                         ": the end of its stream was not saved as its time "
                         "of activity (",
                         s.message(),
                         "); its idle time counts from its last batch, ack, "
                         "resume or sweep"));
      }
      live_.erase(it);
    }
    ended_.SignalAll();
    if (options_.observer != nullptr && live->unacked_told != 0) {
      options_.observer->Unacknowledged(live->state.dataset_id(),
                                        -live->unacked_told);
      live->unacked_told = 0;
    }
    r.set_last_event_sequence(live->state.acked_sequence());
    r.set_provider_position(ShownPosition(live->state.acked_position()));
    if (live->end_recorded) return;  // End recorded why, denied
  }
  r.set_decision(v1::DECISION_ALLOW);
  r.set_subscription_event(absl::StrCat("ended: ", why));
  (void)AppendNow(std::move(r));  // the log's health reports a failure
}

grpc::Status SubscriptionService::Subscribe(
    grpc::ServerContext* ctx, const v1::SignedRequest* request,
    grpc::ServerWriter<v1::SubscriptionMessage>* writer) {
  internal::Admission a(deps_, ctx, v1::RECORD_KIND_SUBSCRIPTION_START);
  v1::SubscriptionTerms terms;
  Refusal r = a.Authenticate(accepting_, *request);
  // The terms before the replay guard remembers the nonce: a malformed
  // request can be sent again, corrected.
  if (!r.refused()) {
    r = ReadTerms(request->envelope(), TermsIn(a.env()), &terms);
  }
  if (!r.refused() && terms.unsubscribe()) {
    return Unsubscribe(&a, terms, writer);
  }
  // A feed is not filtered by query: a subscription naming one person
  // would otherwise pass a grant that requires a named subject and receive
  // everyone's changes. Fail closed until per-subscription filters exist.
  if (!r.refused() &&
      (!a.env().query().empty() || !a.env().data_subject_id().empty())) {
    r = Unsupported(
        "a subscription carries every change its grant allows: query and "
        "data_subject_id are not supported (leave them empty)");
  }
  if (!r.refused()) {
    r = Admit(&a, /*decide=*/true);
  }
  std::shared_ptr<Live> live;
  if (!r.refused()) r = Open(&a, terms, &live);
  if (r.refused()) {
    return Refuse(&a, r,
                  r.reason == v1::REASON_INTERNAL ? v1::DECISION_ERROR
                                                  : v1::DECISION_DENY);
  }
  {
    absl::MutexLock lock(&mu_);  // an Ack may be changing the state
    a.record().set_subscription_id(live->state.subscription_id());
    a.record().set_last_event_sequence(live->state.acked_sequence());
    a.record().set_provider_position(
        ShownPosition(live->state.acked_position()));
  }
  for (const auto& f : a.decision().fields) a.record().add_returned_fields(f);
  a.RecordOutcome(Refusal(), v1::DECISION_ALLOW);
  a.StampTotal();
  auto receipt = AppendNow(a.record());
  if (!receipt.ok()) {
    Close(live, &a, "the audit log could not record the start");
    return ErrorStatus(AuditFailure(receipt.status()), a.request_id(), nullptr,
                       deps_.node_id);
  }
  std::string why = "the consumer left";
  grpc::Status st = Serve(&a, *request, ctx, writer, live.get(), &why);
  Close(live, &a, why);
  return st;
}

grpc::Status SubscriptionService::Unsubscribe(
    internal::Admission* a, const v1::SubscriptionTerms& terms,
    grpc::ServerWriter<v1::SubscriptionMessage>* writer) {
  const std::string& id = terms.subscription_id();
  a->record().set_kind(v1::RECORD_KIND_SUBSCRIPTION_CONTROL);
  a->record().set_subscription_id(id);
  // Not the policy: a consumer can always end what it holds.
  Refusal r = Admit(a, /*decide=*/false);
  absl::StatusOr<audit::AppendResult> receipt;
  uint64_t acked = 0;
  if (!r.refused()) {
    // Under the lock throughout: no resume, ack or batch of this
    // subscription can save its state between the check and the delete.
    absl::MutexLock lock(&mu_);
    auto old = live_.find(id);
    if (old != live_.end() &&
        old->second->state.consumer_agency() == a->env().consumer_agency() &&
        old->second->state.dataset_id() == a->env().dataset_id()) {
      std::shared_ptr<Live> prev = old->second;
      prev->stopping = true;
      prev->stop_reason = "unsubscribed by the consumer";
      if (prev->adapter_ctx != nullptr) prev->adapter_ctx->TryCancel();
      prev->changed.SignalAll();
      const absl::Time until =
          absl::Now() + 2 * options_.heartbeat + absl::Seconds(1);
      while (live_.contains(id) && !ended_.WaitWithDeadline(&mu_, until)) {
      }
    }
    auto loaded = states_->Load(id);
    if (!loaded.ok()) {
      r = InternalFailure(loaded.status());
    } else if (!loaded->has_value() ||
               (*loaded)->consumer_agency() != a->env().consumer_agency() ||
               (*loaded)->dataset_id() != a->env().dataset_id()) {
      r = Unknown(id);
    } else if (live_.contains(id)) {
      r = Refusal::For(v1::REASON_SUBSCRIPTION_BUSY,
                       absl::StrCat("subscription ", id,
                                    " is still being served; retry the "
                                    "unsubscribe"));
    } else {
      acked = (*loaded)->acked_sequence();
      // Recorded first: the log says it was ended before it is.
      a->record().set_last_event_sequence(acked);
      a->record().set_provider_position(
          ShownPosition((*loaded)->acked_position()));
      a->record().set_subscription_event(
          absl::StrCat("unsubscribed (acked ", acked, ")"));
      a->RecordOutcome(Refusal(), v1::DECISION_ALLOW);
      a->StampTotal();
      receipt = AppendNow(a->record());
      if (!receipt.ok()) {
        return ErrorStatus(AuditFailure(receipt.status()), a->request_id(),
                           nullptr, deps_.node_id);
      }
      if (absl::Status s = states_->Delete(id); !s.ok()) {
        return ErrorStatus(InternalFailure(s), a->request_id(), &*receipt,
                           deps_.node_id);
      }
    }
  }
  if (r.refused()) {
    a->record().set_subscription_event(
        absl::StrCat("unsubscribe refused: ", r.message));
    return Refuse(a, r,
                  r.reason == v1::REASON_INTERNAL ? v1::DECISION_ERROR
                                                  : v1::DECISION_DENY);
  }
  v1::SubscriptionMessage m;
  v1::Unsubscribed* u = m.mutable_unsubscribed();
  u->set_subscription_id(id);
  u->set_acked_sequence(acked);
  u->mutable_receipt()->set_sequence_number(receipt->sequence_number);
  u->mutable_receipt()->set_record_hash(receipt->record_hash);
  u->mutable_receipt()->set_node_id(deps_.node_id);
  (void)writer->Write(m);
  return grpc::Status::OK;
}

grpc::Status SubscriptionService::Serve(
    internal::Admission* a, const v1::SignedRequest& request,
    grpc::ServerContext* ctx,
    grpc::ServerWriter<v1::SubscriptionMessage>* writer, Live* live,
    std::string* why) {
  v1::ChangesRequest creq;
  ChainHead head;
  {
    absl::MutexLock lock(&mu_);
    const v1::SubscriptionState& s = live->state;
    creq.set_after_position(s.acked_position());
    creq.set_subscription_id(s.subscription_id());
    head.sha256 = s.acked_batch_sha256();
    head.last_sequence = s.acked_sequence();
  }
  v1::SubscriptionMessage msg;
  v1::SubscriptionOpened* opened = msg.mutable_opened();
  opened->set_subscription_id(creq.subscription_id());
  opened->set_resumes_after_sequence(head.last_sequence);
  opened->set_chain_head_sha256(head.sha256);
  if (!writer->Write(msg)) return grpc::Status::OK;

  // Told to the observer: served while Serve runs; idle while only
  // heartbeats were sent since the last batch.
  const std::string dataset = a->decision().dataset->id();
  SubscriptionObserver* const observer = options_.observer;
  bool idle_told = false;
  auto set_idle = [&](bool idle) {
    if (observer != nullptr && idle != idle_told) {
      observer->StreamsIdle(dataset, idle ? 1 : -1);
    }
    idle_told = idle;
  };
  if (observer != nullptr) observer->StreamsOpen(dataset, 1);
  absl::Cleanup untold = [&] {
    set_idle(false);
    if (observer != nullptr) observer->StreamsOpen(dataset, -1);
  };

  creq.set_dataset_id(a->decision().dataset->id());
  creq.set_consumer_agency(a->env().consumer_agency());
  creq.set_max_changes(options_.max_events_per_batch);
  // The adapter's empty batches are when an idle feed is looked at again:
  // for its heartbeat and for the policy's recheck.
  creq.set_idle_seconds(static_cast<uint32_t>(
      std::max<int64_t>(1, absl::ToInt64Seconds(std::min(
                               options_.heartbeat, options_.policy_recheck)))));
  auto stub = v1::Adapter::NewStub(deps_.adapters->ChannelFor(a->adapter()));
  // The provider position after the last batch read and dealt with (sent,
  // or nothing of it in view): where a reopened feed reads from.
  std::string read_position = creq.after_position();
  std::unique_ptr<grpc::ClientContext> cctx;
  std::unique_ptr<grpc::ClientReader<v1::ChangeBatch>> reader;
  // Set when the adapter ended its stream (a Read returned false): its
  // status is then the adapter's own, which a cancel would replace with
  // CANCELLED (and an adapter's OUT_OF_RANGE or failure would be lost).
  bool feed_ended = false;
  auto close_feed = [&]() -> grpc::Status {
    {
      absl::MutexLock lock(&mu_);
      live->adapter_ctx = nullptr;
    }
    if (!feed_ended) cctx->TryCancel();
    feed_ended = false;
    grpc::Status st = reader->Finish();
    reader.reset();
    return st;
  };
  // Opens the adapter's feed after read_position, asking for the fields
  // the decision in force needs; false when the stream is stopping.
  auto open_feed = [&]() -> bool {
    if (reader != nullptr) (void)close_feed();
    creq.clear_fields();
    for (const auto& f : a->decision().adapter_fields) creq.add_fields(f);
    creq.set_after_position(read_position);
    cctx = std::make_unique<grpc::ClientContext>();
    {
      absl::MutexLock lock(&mu_);
      if (live->stopping) {
        *why = live->stop_reason;
        return false;
      }
      live->adapter_ctx = cctx.get();
    }
    reader = stub->Changes(cctx.get(), creq);
    return true;
  };
  if (!open_feed()) return grpc::Status::OK;
  // The decision in force: a->decision() is replaced at each recheck.
  const std::vector<std::string>& columns = a->decision().fields;
  const std::string mask_key =
      policy::MaskKeyFor(deps_.subject_hmac_key, a->env().consumer_agency());
  bool row_filter = a->decision().row_filter != nullptr;
  KeyShown show_key = KeyShownFor(a->decision(), mask_key);
  absl::Time last_sent = deps_.clock->Now();
  absl::Time last_check = deps_.clock->Now();
  // Set when the policy now in force, or a certificate, ends the feed.
  Refusal ended;
  auto recheck_due = [&]() {
    return deps_.clock->Now() - last_check >= options_.policy_recheck;
  };
  auto recheck = [&]() {
    last_check = deps_.clock->Now();
    ended = Recheck(a, request);
    row_filter = a->decision().row_filter != nullptr;
    show_key = KeyShownFor(a->decision(), mask_key);
    return !ended.refused();
  };
  auto heartbeat = [&]() -> bool {
    v1::SubscriptionMessage hb;
    SetTimestamp(deps_.clock->Now(), hb.mutable_heartbeat()->mutable_time());
    hb.mutable_heartbeat()->set_last_sequence(head.last_sequence);
    last_sent = deps_.clock->Now();
    set_idle(true);
    return writer->Write(hb);
  };
  grpc::Status result = grpc::Status::OK;
  std::string bad_adapter;
  bool snapshot_done = false;  // a snapshot ended and it was not yet told
  v1::ChangeBatch cb;
  while (true) {
    if (ctx->IsCancelled()) break;
    // A consumer that does not ack holds the feed here (bounded state, and
    // the adapter held back by flow control), with heartbeats.
    bool gone = false, stopping = false;
    std::string stop_reason;
    while (true) {
      bool held = false;
      {
        absl::MutexLock lock(&mu_);
        stopping = live->stopping;
        stop_reason = live->stop_reason;
        held = !stopping && !ctx->IsCancelled() &&
               live->state.delivered_size() >=
                   static_cast<int>(options_.max_unacked_batches);
        // WaitWithTimeout is true when the time ran out: then a heartbeat
        // (and the policy's recheck) is due; signalled, an ack came or the
        // stream is stopping: look again.
        if (held &&
            !live->changed.WaitWithTimeout(
                &mu_, std::min(options_.heartbeat, options_.policy_recheck))) {
          continue;
        }
      }
      if (!held) break;
      if (recheck_due() && !recheck()) break;
      if (deps_.clock->Now() - last_sent >= options_.heartbeat &&
          !heartbeat()) {
        gone = true;
        break;
      }
    }
    if (stopping) {
      *why = stop_reason;
      break;
    }
    if (gone || ended.refused()) break;
    if (!reader->Read(&cb)) {
      feed_ended = true;
      break;
    }
    const bool idle = cb.changes_size() == 0;
    // Told on the next batch delivered (this one's, if it has events in
    // view): a snapshot whose tail is out of view still says it ended.
    if (cb.snapshot_complete()) snapshot_done = true;
    // Each batch is decided under the policy in force (and the
    // certificates' state) when it is read; an idle feed every
    // policy_recheck.
    if (!idle || recheck_due()) {
      if (!recheck()) break;
      const bool fields_asked = std::all_of(
          a->decision().adapter_fields.begin(),
          a->decision().adapter_fields.end(), [&](const std::string& f) {
            return std::find(creq.fields().begin(), creq.fields().end(), f) !=
                   creq.fields().end();
          });
      if (!fields_asked) {
        // The policy now grants (or filters on) a field the feed was not
        // opened with: read again from here, with it.
        if (!open_feed()) break;
        continue;
      }
    }
    if (idle) {
      read_position = cb.end_position();
      if (deps_.clock->Now() - last_sent >= options_.heartbeat &&
          !heartbeat()) {
        break;
      }
      continue;
    }
    v1::EventBatch eb;
    for (const auto& c : columns) eb.add_columns(c);
    uint64_t seq = head.last_sequence;
    // The data subjects whose records this batch carries, for their report.
    const bool personal_key = KeyIsPersonal(a->decision());
    std::vector<std::string> subject_hmacs;
    // Every record this batch tells the consumer about, for corrections.
    audit::DeliveredRecords delivered = a->DeliveredRecordsFor();
    for (v1::ProviderChange& c : *cb.mutable_changes()) {
      v1::RecordBatch in, out;
      *in.mutable_columns() = cb.columns();
      const bool has_values = c.values().values_size() > 0;
      if (has_values) *in.add_rows() = c.values();
      const bool is_delete = c.kind() == v1::CHANGE_KIND_DELETE;
      if (row_filter && !has_values) {
        // Cannot tell whether it is (or, for a delete, was) in view:
        // withheld, whatever its kind, so that no key out of view leaks.
        continue;
      }
      if (c.kind() == v1::CHANGE_KIND_LEFT_VIEW) {
        bad_adapter = absl::StrCat("change ", c.position(),
                                   " is of a kind only the gateway makes "
                                   "(left_view)");
        break;
      }
      bool left_view = false;
      if (has_values && a->Filter(&in, 1, &out) == 0) {
        // Outside the consumer's rows now. If it was inside them before
        // (the adapter sent the record as it was), the consumer holds a
        // copy it may no longer see: tell it, without values. A record
        // never in view is never announced (its key would leak).
        if (is_delete || !WasInView(a, cb.columns(), c)) continue;
        left_view = true;
      }
      if (has_values && !left_view &&
          !std::equal(out.columns().begin(), out.columns().end(),
                      columns.begin(), columns.end())) {
        // An adapter that left out a column asked for: its values would
        // not line up with the batch's columns.
        bad_adapter = absl::StrCat("change ", c.position(),
                                   " lacks columns the gateway asked for");
        break;
      }
      v1::ChangeEvent* e = eb.add_events();
      e->set_sequence(++seq);
      e->set_key(show_key(c.key()));
      delivered.Add(c.key());
      if (personal_key) {
        subject_hmacs.push_back(
            certs::HmacSha256(deps_.subject_hmac_key, c.key()));
      }
      e->set_kind(left_view ? v1::CHANGE_KIND_LEFT_VIEW : c.kind());
      *e->mutable_commit_time() = c.commit_time();
      if (!is_delete && !left_view && out.rows_size() == 1) {
        *e->mutable_values() = std::move(*out.mutable_rows(0));
      }
    }
    if (!bad_adapter.empty()) {
      *why = absl::StrCat("the adapter's feed failed: ", bad_adapter);
      result = ErrorStatus(
          AdapterFailure(static_cast<int>(grpc::StatusCode::UNAVAILABLE),
                         bad_adapter, a->AdapterTimeout()),
          a->request_id(), nullptr, deps_.node_id);
      break;
    }
    if (eb.events_size() == 0) {  // nothing of it in view
      read_position = cb.end_position();
      continue;
    }
    ended = ChargeEvents(a, eb.events_size());
    if (ended.refused()) break;  // not sent: read again on resume
    eb.set_subscription_id(creq.subscription_id());
    eb.set_first_sequence(head.last_sequence + 1);
    eb.set_last_sequence(seq);
    eb.set_previous_batch_sha256(head.sha256);
    eb.set_gateway_node_id(deps_.node_id);
    eb.set_policy_version(a->decision().policy_version);
    eb.set_dataset_id(creq.dataset_id());
    eb.set_snapshot_complete(snapshot_done);
    snapshot_done = false;
    // The audit record binds the events (columns and events, serialized
    // before the receipt and time are set) and is durable before they leave.
    v1::AuditRecord rec =
        Derived(a->record(), v1::RECORD_KIND_SUBSCRIPTION_BATCH);
    rec.set_decision(v1::DECISION_ALLOW);
    rec.set_first_event_sequence(eb.first_sequence());
    rec.set_last_event_sequence(eb.last_sequence());
    rec.set_record_count(eb.events_size());
    rec.set_provider_position(ShownPosition(cb.end_position()));
    *rec.mutable_returned_fields() = eb.columns();
    std::sort(subject_hmacs.begin(), subject_hmacs.end());
    subject_hmacs.erase(std::unique(subject_hmacs.begin(), subject_hmacs.end()),
                        subject_hmacs.end());
    for (auto& h : subject_hmacs) rec.add_event_subject_hmacs(std::move(h));
    delivered.FillInto(&rec);
    {
      v1::EventBatch content;
      *content.mutable_columns() = eb.columns();
      *content.mutable_events() = eb.events();
      rec.set_response_sha256(certs::Sha256(content.SerializeAsString()));
    }
    auto receipt = AppendNow(std::move(rec));
    if (!receipt.ok()) {
      *why = "the audit log could not record a batch";
      result = ErrorStatus(AuditFailure(receipt.status()), a->request_id(),
                           nullptr, deps_.node_id);
      break;
    }
    v1::AuditReceipt* out = eb.mutable_receipt();
    out->set_sequence_number(receipt->sequence_number);
    out->set_record_hash(receipt->record_hash);
    out->set_node_id(deps_.node_id);
    SetTimestamp(deps_.clock->Now(), eb.mutable_issued_at());
    auto signed_batch = SignBatch(*deps_.signer, eb);
    if (!signed_batch.ok()) {
      *why = "the batch could not be signed";
      result = ErrorStatus(InternalFailure(signed_batch.status()),
                           a->request_id(), nullptr, deps_.node_id);
      break;
    }
    const std::string hash = BatchHash(*signed_batch);
    {
      // Saved before it leaves: an ack of it must find it.
      absl::MutexLock lock(&mu_);
      v1::DeliveredBatch* d = live->state.add_delivered();
      d->set_first_sequence(eb.first_sequence());
      d->set_last_sequence(eb.last_sequence());
      d->set_sha256(hash);
      d->set_end_position(cb.end_position());
      live->state.set_last_active_unix_micros(
          absl::ToUnixMicros(deps_.clock->Now()));
      if (absl::Status s = states_->Save(live->state); !s.ok()) {
        // Not sent: an ack must not find it (it would acknowledge events
        // never delivered, and a resume would skip them).
        live->state.mutable_delivered()->RemoveLast();
        *why = "its state could not be saved";
        result = ErrorStatus(InternalFailure(s), a->request_id(), nullptr,
                             deps_.node_id);
        break;
      }
      if (observer != nullptr) {
        live->unacked_told += eb.events_size();
        observer->Unacknowledged(dataset, eb.events_size());
      }
    }
    v1::SubscriptionMessage m;
    *m.mutable_batch() = *std::move(signed_batch);
    if (!writer->Write(m)) break;
    if (observer != nullptr) {
      // Lag: from the newest event's commit at the provider to now.
      absl::Time newest = absl::InfinitePast();
      for (const auto& e : eb.events()) {
        if (e.has_commit_time()) {
          newest = std::max(newest,
                            absl::FromUnixSeconds(e.commit_time().seconds()) +
                                absl::Nanoseconds(e.commit_time().nanos()));
        }
      }
      observer->BatchDelivered(
          dataset, eb.events_size(),
          newest == absl::InfinitePast()
              ? absl::Seconds(-1)
              : std::max(absl::ZeroDuration(), deps_.clock->Now() - newest));
    }
    set_idle(false);
    read_position = cb.end_position();
    head.sha256 = hash;
    head.last_sequence = eb.last_sequence();
    last_sent = deps_.clock->Now();
  }
  grpc::Status adapter =
      reader != nullptr ? close_feed() : grpc::Status::CANCELLED;
  {
    absl::MutexLock lock(&mu_);
    if (live->stopping) *why = live->stop_reason;  // it cancelled the feed
  }
  if (ended.refused() && result.ok()) {
    return End(a, writer, live, head, ended, why);
  }
  // The provider pruned the changes after the acknowledged position: no
  // resume can go on without a gap. The consumer is told so, signed and
  // audited, rather than a retry that would fail the same way for ever.
  if (result.ok() && !ctx->IsCancelled() &&
      adapter.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
    return End(
        a, writer, live, head,
        Refusal::Of(
            absl::StatusCode::kOutOfRange, v1::REASON_SUBSCRIPTION_RESYNC,
            absl::StrCat(
                "the provider no longer keeps the changes after position ",
                ShownPosition(read_position), " (", adapter.error_message(),
                "); open a new subscription from the beginning (or a "
                "snapshot) and rebuild your copy from it")),
        why);
  }
  if (result.ok() && !ctx->IsCancelled() && !adapter.ok() &&
      adapter.error_code() != grpc::StatusCode::CANCELLED) {
    *why = absl::StrCat("the adapter's feed failed: ", adapter.error_message());
    result = ErrorStatus(
        AdapterFailure(adapter.error_code(), adapter.error_message(),
                       a->AdapterTimeout()),
        a->request_id(), nullptr, deps_.node_id);
  }
  return result;
}

grpc::Status SubscriptionService::Ack(grpc::ServerContext* ctx,
                                      const v1::SignedRequest* request,
                                      v1::AckResponse* response) {
  internal::Admission a(deps_, ctx, v1::RECORD_KIND_SUBSCRIPTION_CONTROL);
  Refusal r = a.Authenticate(accepting_, *request);
  v1::AckTerms terms;
  if (!r.refused() && TermsIn(a.env()).subscription) {
    r = Unsupported(
        "this envelope carries SubscriptionTerms (fields 1001-1010): send it "
        "to dx.v1.Subscriptions/Subscribe, and an Ack with AckTerms only");
  }
  if (!r.refused() && (!terms.ParseFromString(request->envelope()) ||
                       terms.subscription_id().empty())) {
    r = Unsupported(
        "an Ack's envelope needs AckTerms (subscription_id, sequence) after "
        "the RequestEnvelope fields");
  }
  if (!r.refused()) r = Admit(&a, /*decide=*/false);
  a.record().set_subscription_id(terms.subscription_id());
  a.record().set_last_event_sequence(terms.sequence());
  if (!r.refused()) {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Live> live;
    v1::SubscriptionState stored;
    v1::SubscriptionState* state = nullptr;
    if (auto it = live_.find(terms.subscription_id()); it != live_.end()) {
      live = it->second;
      state = &live->state;
    } else if (auto loaded = states_->Load(terms.subscription_id());
               !loaded.ok()) {
      r = InternalFailure(loaded.status());
    } else if (loaded->has_value()) {
      stored = **loaded;
      state = &stored;
    }
    if (!r.refused() &&
        (state == nullptr ||
         state->consumer_agency() != a.env().consumer_agency() ||
         state->dataset_id() != a.env().dataset_id())) {
      r = Unknown(terms.subscription_id());
    }
    if (!r.refused() && terms.sequence() > state->acked_sequence()) {
      int found = -1;
      for (int i = 0; i < state->delivered_size(); ++i) {
        if (state->delivered(i).last_sequence() == terms.sequence()) found = i;
      }
      if (found < 0) {
        r = Refusal::For(
            v1::REASON_ACK_NOT_DELIVERED,
            absl::StrCat(
                "sequence ", terms.sequence(),
                " is not the last event of a batch delivered on subscription ",
                terms.subscription_id(), " since its last ack (",
                state->acked_sequence(),
                "); acknowledge the last_sequence of a batch you received"));
      } else {
        const v1::DeliveredBatch d = state->delivered(found);
        if (live != nullptr && options_.observer != nullptr) {
          const int64_t moved =
              std::min<int64_t>(live->unacked_told,
                                static_cast<int64_t>(d.last_sequence() -
                                                     state->acked_sequence()));
          live->unacked_told -= moved;
          options_.observer->Unacknowledged(state->dataset_id(), -moved);
        }
        state->set_acked_sequence(d.last_sequence());
        state->set_acked_position(d.end_position());
        state->set_acked_batch_sha256(d.sha256());
        state->mutable_delivered()->DeleteSubrange(0, found + 1);
        state->set_last_active_unix_micros(
            absl::ToUnixMicros(deps_.clock->Now()));
        if (absl::Status s = states_->Save(*state); !s.ok()) {
          r = InternalFailure(s);
        } else if (live != nullptr) {
          live->changed.SignalAll();
        }
      }
    }
    if (!r.refused()) {
      response->set_subscription_id(terms.subscription_id());
      response->set_acked_sequence(state->acked_sequence());
    }
  }
  if (r.refused()) {
    if (options_.observer != nullptr) options_.observer->AckRefused(r.reason);
    a.record().set_subscription_event(absl::StrCat("ack refused: ", r.message));
    return Refuse(&a, r,
                  r.reason == v1::REASON_INTERNAL ? v1::DECISION_ERROR
                                                  : v1::DECISION_DENY);
  }
  // An accepted ack is recorded too: it is the consumer's signed word that
  // it holds the events up to it.
  a.record().set_subscription_event(
      absl::StrCat("acked ", response->acked_sequence()));
  a.RecordOutcome(Refusal(), v1::DECISION_ALLOW);
  a.StampTotal();
  auto receipt = AppendNow(a.record());
  if (!receipt.ok()) {
    return ErrorStatus(AuditFailure(receipt.status()), a.request_id(), nullptr,
                       deps_.node_id);
  }
  return grpc::Status::OK;
}

absl::Status SubscriptionService::StampActive(const std::string& id,
                                              absl::Time now, Live* live) {
  // What is stored, not the stream's copy: that copy may hold a batch
  // whose save failed, which must not become deliverable by this write.
  auto loaded = states_->Load(id);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value()) return absl::OkStatus();
  v1::SubscriptionState state = **std::move(loaded);
  state.set_last_active_unix_micros(absl::ToUnixMicros(now));
  DX_RETURN_IF_ERROR(states_->Save(state));
  if (live != nullptr) {
    live->state.set_last_active_unix_micros(absl::ToUnixMicros(now));
  }
  return absl::OkStatus();
}

SubscriptionService::ExpirySweep SubscriptionService::ExpireIdle() {
  ExpirySweep sweep;
  const absl::Time now = deps_.clock->Now();
  {
    // Those served now are active: stamped, so that a node that crashes
    // during a long quiet stream does not expire it at its next start.
    absl::MutexLock lock(&mu_);
    if (!accepting_) return sweep;
    for (auto& [id, live] : live_) {
      if (absl::Status s = StampActive(id, now, live.get()); !s.ok()) {
        sweep.status = s;
        return sweep;
      }
      ++sweep.served;
    }
  }
  // The candidates first, without the lock (a listing may be long), then
  // each decided again under it. At most kMaxPerSweep a sweep, so that its
  // memory and its time (two synced writes each) stay bounded however many
  // were abandoned; the rest go at the next sweep.
  constexpr size_t kMaxPerSweep = 10000;
  std::vector<std::string> candidates;
  absl::Status listed = states_->ForEach([&](const v1::SubscriptionState& s) {
    const absl::Time active = absl::FromUnixMicros(s.last_active_unix_micros());
    if (s.last_active_unix_micros() == 0 ||
        now - active >= options_.idle_expiry) {
      candidates.push_back(s.subscription_id());
    }
    return candidates.size() < kMaxPerSweep;
  });
  if (!listed.ok()) {
    sweep.status = listed;
    return sweep;
  }
  for (const std::string& id : candidates) {
    ExpireOne(id, now, &sweep);
    if (!sweep.status.ok() || !accepting_) break;
  }
  return sweep;
}

void SubscriptionService::ExpireOne(const std::string& id, absl::Time now,
                                    ExpirySweep* sweep) {
  // Under the lock throughout, as an unsubscribe: no resume, ack or batch
  // can save this state between the check and the delete.
  absl::MutexLock lock(&mu_);
  if (live_.contains(id)) return;  // served now (stamped above): kept
  auto loaded = states_->Load(id);
  if (!loaded.ok()) {
    sweep->status = loaded.status();
    return;
  }
  if (!loaded->has_value()) return;  // unsubscribed meanwhile
  const v1::SubscriptionState& state = **loaded;
  if (state.last_active_unix_micros() == 0) {
    // Written before its time of activity was kept: active from now on,
    // never expired on sight.
    sweep->status = StampActive(id, now, nullptr);
    if (sweep->status.ok()) ++sweep->stamped;
    return;
  }
  const absl::Time since =
      absl::FromUnixMicros(state.last_active_unix_micros());
  if (now - since < options_.idle_expiry) return;  // resumed or acked since
  v1::AuditRecord r;
  r.set_kind(v1::RECORD_KIND_SUBSCRIPTION_CONTROL);
  r.set_decision(v1::DECISION_ALLOW);
  r.set_node_id(deps_.node_id);
  r.set_consumer_agency(state.consumer_agency());
  r.set_dataset_id(state.dataset_id());
  r.set_purpose_code(state.purpose_code());
  r.set_subscription_id(id);
  r.set_last_event_sequence(state.acked_sequence());
  r.set_provider_position(ShownPosition(state.acked_position()));
  r.set_subscription_event(absl::StrCat(
      "expired: idle since ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", since, absl::UTCTimeZone()),
      " (idle_expiry_days ", absl::ToInt64Hours(options_.idle_expiry) / 24,
      ")"));
  // Recorded first: nothing disappears unaudited. A record that cannot be
  // made durable keeps the state (the next sweep tries again).
  auto receipt = AppendNow(std::move(r));
  if (!receipt.ok()) {
    sweep->status = absl::UnavailableError(absl::StrCat(
        "subscription ", id, " is kept: its expiry could not be recorded (",
        receipt.status().message(), ")"));
    return;
  }
  if (absl::Status s = states_->Delete(id); !s.ok()) {
    sweep->status = s;  // recorded and kept: the next sweep records it again
    return;
  }
  ++sweep->expired;
  if (options_.observer != nullptr) {
    options_.observer->Expired(state.dataset_id());
  }
}

absl::Status SubscriptionServiceTestPeer::MarkServed(
    SubscriptionService* service, const std::string& id) {
  absl::MutexLock lock(&service->mu_);
  auto loaded = service->states_->Load(id);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value()) return absl::NotFoundError(id);
  auto live = std::make_shared<SubscriptionService::Live>();
  live->state = **loaded;
  service->live_.emplace(id, std::move(live));
  return absl::OkStatus();
}

absl::Status SubscriptionServiceTestPeer::EndServed(
    SubscriptionService* service, const std::string& id) {
  std::shared_ptr<SubscriptionService::Live> live;
  {
    absl::MutexLock lock(&service->mu_);
    auto it = service->live_.find(id);
    if (it == service->live_.end()) return absl::NotFoundError(id);
    live = it->second;
  }
  grpc::ServerContext ctx;  // no call: an empty peer
  internal::Admission a(service->deps_, &ctx,
                        v1::RECORD_KIND_SUBSCRIPTION_START);
  service->Close(live, &a, "the test ended it");
  return absl::OkStatus();
}

}  // namespace dx::gateway
