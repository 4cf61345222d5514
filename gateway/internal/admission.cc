#include "gateway/internal/admission.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/records.h"
#include "gateway/envelope_terms.h"
#include "gateway/policy_filter.h"
#include "gateway/record_filter.h"
#include "policy/masking.h"
#include "policy/row_filter.h"

namespace dx::gateway::internal {
namespace {

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

// Transit metadata (docs/FEDERATION.md#routing-through-peers): beside the
// consumer's signed bytes, never inside them.
constexpr char kHopPath[] = "dx-hop-path";
constexpr char kHopLimit[] = "dx-hop-limit";
constexpr char kOrigin[] = "dx-origin-bin";
// Far above any real network (consumer platform, hub, provider), far
// below harm.
constexpr size_t kMaxPathEntries = 16;

// The one value of `key` in the client's metadata; false if absent or
// sent more than once.
bool OneMetadata(const grpc::ServerContextBase& ctx, const char* key,
                 std::string* out) {
  const auto& md = ctx.client_metadata();
  auto range = md.equal_range(key);
  if (range.first == range.second || std::next(range.first) != range.second) {
    return false;
  }
  out->assign(range.first->second.data(), range.first->second.size());
  return true;
}

bool IsPlatformId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

std::string PeerPem(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return "";
  auto values = auth->FindPropertyValues("x509_pem_cert");
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

Admission::Admission(const ExchangeDeps& deps,
                     const grpc::ServerContextBase* ctx, v1::RecordKind kind)
    : deps_(deps),
      ctx_(ctx),
      received_(deps.clock->Now()),
      stream_(kind == v1::RECORD_KIND_STREAM_START),
      kind_(kind) {
  record_.set_kind(kind);
  record_.set_node_id(deps.node_id);
  record_.set_received_unix_micros(absl::ToUnixMicros(received_));
  record_.set_peer(ctx->peer());
}

Refusal Admission::Authenticate(bool accepting,
                                const v1::SignedRequest& request) {
  Refusal refusal;
  if (!accepting) {
    refusal = ShuttingDown();
  } else if (deps_.readiness) {
    // Fail closed before any work: e.g. nothing can be served unaudited.
    refusal = deps_.readiness();
  }
  if (!refusal.refused() && deps_.max_request_bytes > 0 &&
      request.ByteSizeLong() > deps_.max_request_bytes) {
    refusal = RequestTooLarge(request.ByteSizeLong(), deps_.max_request_bytes);
  }
  if (!refusal.refused()) {
    const absl::Time start = deps_.clock->Now();
    refusal = deps_.checker->Check(request, PeerPem(*ctx_), &checked_);
    stages_.Set(Stage::kVerify, deps_.clock->Now() - start);
    // A signed subscribe or ack sent to Exchange: its terms would be
    // ignored and it would be served as a plain look-up.
    if (!refusal.refused() && forwarded()) refusal = CheckTransit();
    if (!refusal.refused() && kind_ != v1::RECORD_KIND_SUBSCRIPTION_START &&
        kind_ != v1::RECORD_KIND_SUBSCRIPTION_CONTROL) {
      refusal = TermsOnExchange(checked_.envelope);
    }
  } else {
    RequestChecker::ReadUnverified(request, PeerPem(*ctx_), &checked_);
  }
  FillRecordFromRequest();
  return refusal;
}

Refusal Admission::CheckTransit() {
  auto refuse = [](absl::StatusCode code, std::string m) {
    return Refusal::Of(code, v1::REASON_ROUTING_REFUSED, std::move(m));
  };
  if (kind_ != v1::RECORD_KIND_EXCHANGE) {
    return refuse(absl::StatusCode::kFailedPrecondition,
                  "only Exchange/Call crosses platforms so far; streams and "
                  "subscriptions through a peer platform are not served yet");
  }
  std::string path, limit;
  if (!OneMetadata(*ctx_, kHopPath, &path) ||
      !OneMetadata(*ctx_, kHopLimit, &limit)) {
    return refuse(absl::StatusCode::kInvalidArgument,
                  "a forwarded request carries exactly one dx-hop-path and "
                  "one dx-hop-limit header");
  }
  hop_path_ = absl::StrSplit(path, ',');
  record_.clear_hop_path();
  for (const std::string& p : hop_path_) record_.add_hop_path(p);
  if (hop_path_.size() > kMaxPathEntries ||
      !std::all_of(hop_path_.begin(), hop_path_.end(), IsPlatformId)) {
    hop_path_.clear();
    record_.clear_hop_path();
    return refuse(absl::StatusCode::kInvalidArgument,
                  absl::StrCat("dx-hop-path must be at most ", kMaxPathEntries,
                               " platform ids separated by commas"));
  }
  if (hop_path_.back() != checked_.via_platform) {
    return refuse(absl::StatusCode::kInvalidArgument,
                  absl::StrCat("dx-hop-path must end with the forwarding "
                               "platform ",
                               checked_.via_platform));
  }
  if (std::find(hop_path_.begin(), hop_path_.end(),
                deps_.federation->platform_id()) != hop_path_.end()) {
    return refuse(absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("routing loop: the request already crossed "
                               "this platform (",
                               deps_.federation->platform_id(), ") on ", path,
                               "; check the platforms' peer_platform entries"));
  }
  if (Refusal r = CheckOrigin(); r.refused()) return r;
  if (!absl::SimpleAtoi(limit, &hop_limit_) || limit.size() > 3) {
    return refuse(absl::StatusCode::kInvalidArgument,
                  "dx-hop-limit must be a small decimal number");
  }
  // Never more than this platform would give a request of its own.
  hop_limit_ = std::min(hop_limit_, deps_.federation->max_hops());
  if (hop_limit_ == 0) {
    return refuse(absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("no hops left after ", path,
                               ": the request crossed as many platforms as "
                               "its first platform allows"));
  }
  return Refusal();
}

Refusal Admission::CheckOrigin() {
  auto refuse = [](std::string m) {
    return Refusal::Of(absl::StatusCode::kPermissionDenied,
                       v1::REASON_ROUTING_REFUSED, std::move(m));
  };
  v1::OriginAttestation origin;
  if (!OneMetadata(*ctx_, kOrigin, &origin_) ||
      !origin.ParseFromString(origin_)) {
    return refuse(
        "a forwarded request carries exactly one dx-origin-bin header: the "
        "consumer's own platform's signed attestation that it admitted it");
  }
  absl::StatusOr<std::string> platform = deps_.federation->VerifyOriginSigner(
      env().consumer_agency(), origin.signer_certificate());
  if (!platform.ok()) return refuse(std::string(platform.status().message()));
  v1::OriginAttestationBody body;
  absl::StatusOr<certs::PkeyPtr> key =
      certs::PublicKeyOfDer(origin.signer_certificate());
  if (!key.ok() ||
      !certs::VerifySignature(key->get(), origin.body(), origin.signature()) ||
      !body.ParseFromString(origin.body())) {
    return refuse(absl::StrCat("the origin attestation of ", *platform,
                               " does not verify"));
  }
  if (body.platform_id() != *platform ||
      body.request_sha256() != checked_.request_sha256) {
    return refuse(absl::StrCat("the origin attestation of ", *platform,
                               " is for another request or platform"));
  }
  if (hop_path_.front() != *platform) {
    return Refusal::Of(absl::StatusCode::kInvalidArgument,
                       v1::REASON_ROUTING_REFUSED,
                       absl::StrCat("dx-hop-path must start with ", *platform,
                                    ", the consumer's platform"));
  }
  return Refusal();
}

absl::StatusOr<std::string> Admission::OnwardOrigin() const {
  if (forwarded()) return origin_;
  v1::OriginAttestationBody body;
  body.set_platform_id(deps_.federation->platform_id());
  body.set_node_id(deps_.node_id);
  body.set_request_sha256(checked_.request_sha256);
  SetTimestamp(deps_.clock->Now(), body.mutable_issued_at());
  v1::OriginAttestation origin;
  body.SerializeToString(origin.mutable_body());
  absl::StatusOr<certs::Signer::Signature> sig =
      deps_.signer->SignWithCertificate(origin.body());
  if (!sig.ok()) return sig.status();
  origin.set_signature(std::move(sig->der));
  origin.set_signer_certificate(std::move(sig->certificate_der));
  return origin.SerializeAsString();
}

Refusal Admission::CheckLeaving() const {
  auto refuse = [this](std::string m) {
    Refusal r = Refusal::For(v1::REASON_POLICY_FORBIDDEN, std::move(m));
    r.rule_id = decision_.rule_id;
    return r;
  };
  if (!decision_.masks.empty() || decision_.row_filter != nullptr) {
    return refuse(absl::StrCat(
        "dataset ", decision_.dataset->id(), " is served by platform ",
        decision_.dataset->peer_platform(),
        " and this platform's grant masks fields or filters rows: a signed "
        "answer cannot be altered in transit, so such a grant cannot be "
        "served across platforms (the grant must allow the fields unmasked, "
        "with no row filter)"));
  }
  if (env().fields().empty()) {
    if (decision_.fields.size() !=
        static_cast<size_t>(decision_.dataset->fields_size())) {
      return refuse(absl::StrCat(
          "dataset ", decision_.dataset->id(), " is served by platform ",
          decision_.dataset->peer_platform(),
          ": name the fields you need (this platform allows you ",
          absl::StrJoin(decision_.fields, ", "), ")"));
    }
    return Refusal();
  }
  for (const std::string& f : env().fields()) {
    if (std::find(decision_.fields.begin(), decision_.fields.end(), f) ==
        decision_.fields.end()) {
      return refuse(absl::StrCat("field ", f, " of ", decision_.dataset->id(),
                                 " may not leave this platform for you"));
    }
  }
  return Refusal();
}

std::string Admission::OnwardPath() const {
  std::vector<std::string> path = hop_path_;
  path.push_back(deps_.federation->platform_id());
  return absl::StrJoin(path, ",");
}

uint32_t Admission::OnwardLimit() const {
  // The platforms it may still enter, the next one included.
  return forwarded() ? hop_limit_ - 1 : deps_.federation->max_hops();
}

absl::Time Admission::ForwardDeadline() const {
  absl::Time callers = absl::FromChrono(ctx_->deadline());
  if (callers == absl::InfiniteFuture()) {
    callers = received_ + deps_.adapter_timeout;
  }
  return std::min({callers - deps_.federation->return_margin(),
                   FromTimestamp(env().expires_at()),
                   received_ + deps_.federation->forward_timeout()});
}

Refusal Admission::RecheckCertificates(const v1::SignedRequest& request) const {
  return deps_.checker->RecheckCertificates(request, PeerPem(*ctx_));
}

void Admission::CheckReplay(Cancellation* cancel,
                            std::function<void(Refusal)> done) {
  const replay::ReplayKey key{env().consumer_agency(), env().request_id(),
                              env().nonce(), FromTimestamp(env().expires_at())};
  deps_.replay->CheckAndRemember(
      key, cancel,
      [this, start = deps_.clock->Now(),
       done = std::move(done)](absl::StatusOr<bool> fresh) {
        stages_.Set(Stage::kReplay, deps_.clock->Now() - start);
        if (!fresh.ok()) {
          done(ReplayStoreFailure(fresh.status()));
        } else if (!*fresh) {
          done(ReplayRefusal(request_id()));
        } else {
          done(Refusal());
        }
      });
}

void Admission::Decide(uint64_t max_records, Cancellation* cancel,
                       std::function<void(Refusal)> done, bool charge_quota) {
  const v1::RequestEnvelope& e = env();
  policy::AccessRequest ar;
  ar.consumer_agency = e.consumer_agency();
  ar.consumer_system = e.consumer_system();
  ar.dataset_id = e.dataset_id();
  ar.purpose_code = e.purpose_code();
  ar.operation = e.operation();
  ar.mode = kind_ == v1::RECORD_KIND_SUBSCRIPTION_START
                ? v1::ACCESS_MODE_SUBSCRIPTION
            : stream_ ? v1::ACCESS_MODE_STREAM
                      : v1::ACCESS_MODE_LOOKUP;
  ar.fields.assign(e.fields().begin(), e.fields().end());
  // The policy decides what may be asked as what may be read: every key
  // must be declared, and match a field this consumer may read.
  ar.query_keys.reserve(e.query().size());
  for (const auto& [key, value] : e.query()) ar.query_keys.push_back(key);
  std::sort(ar.query_keys.begin(), ar.query_keys.end());  // map order varies
  ar.has_data_subject_id = !e.data_subject_id().empty();
  ar.consent_reference = e.consent_reference();
  ar.max_records = max_records;
  ar.charge_quota = charge_quota;
  deps_.authorizer->Decide(
      ar, cancel,
      [this, start = deps_.clock->Now(),
       done = std::move(done)](policy::AccessDecision d) {
        stages_.Set(Stage::kPolicy, deps_.clock->Now() - start);
        decision_ = std::move(d);
        // A decision made again (a subscription under way) replaces these.
        record_.clear_masked_fields();
        record_.clear_row_filter();
        if (decision_.dataset != nullptr) {
          record_.set_provider_agency(decision_.dataset->provider_agency());
        }
        record_.set_policy_version(decision_.policy_version);
        record_.set_policy_rule_id(decision_.rule_id);
        *record_.mutable_matched_rule_ids() = {
            decision_.matched_rule_ids.begin(),
            decision_.matched_rule_ids.end()};
        *record_.mutable_consumer_successors() = {
            decision_.consumer_successors.begin(),
            decision_.consumer_successors.end()};
        if (!decision_.allowed) {
          Refusal r =
              Refusal::Of(decision_.code, decision_.reason, decision_.message);
          r.legal_basis = decision_.legal_basis;
          r.rule_id = decision_.rule_id;
          done(std::move(r));
          return;
        }
        if (ServedByPeer() && kind_ != v1::RECORD_KIND_EXCHANGE) {
          done(Refusal::For(
              v1::REASON_ROUTING_REFUSED,
              absl::StrCat("dataset ", decision_.dataset->id(),
                           " is served by platform ",
                           decision_.dataset->peer_platform(),
                           ": only Exchange/Call crosses platforms so far; "
                           "streams and subscriptions are not served across "
                           "platforms yet")));
          return;
        }
        for (const auto& m : decision_.masks) {
          record_.add_masked_fields(m.field);
        }
        if (decision_.row_filter) {
          record_.set_row_filter(decision_.row_filter->text());
        }
        if (std::any_of(decision_.masks.begin(), decision_.masks.end(),
                        [](const policy::MaskSpec& m) {
                          return m.kind == v1::MASK_KIND_HASH;
                        })) {
          mask_key_ = policy::MaskKeyFor(deps_.subject_hmac_key,
                                         env().consumer_agency());
        }
        done(Refusal());
      });
}

uint64_t Admission::RecordLimit(uint64_t gateway_limit) const {
  uint64_t limit = gateway_limit;
  auto lower = [&limit](uint64_t other) {
    if (other != 0 && (limit == 0 || other < limit)) limit = other;
  };
  lower(env().max_records());
  lower(decision_.max_records);
  return limit;
}

v1::Truncation Admission::LimitKind(uint64_t gateway_limit) const {
  const uint64_t limit = RecordLimit(gateway_limit);
  if (limit == 0) return v1::TRUNCATION_NONE;
  if (env().max_records() != 0 && env().max_records() == limit) {
    return v1::TRUNCATION_CALLER_MAX_RECORDS;
  }
  if (decision_.max_records != 0 && decision_.max_records == limit) {
    return v1::TRUNCATION_DAILY_QUOTA;
  }
  return v1::TRUNCATION_GATEWAY_MAX_RECORDS;
}

uint64_t Admission::Filter(v1::RecordBatch* in, uint64_t max_rows,
                           v1::RecordBatch* out) const {
  if (NeedsRowWork(decision_)) {
    return ApplyDecision(decision_, mask_key_, *in, max_rows, out);
  }
  return TakeProjected(in, decision_.fields, max_rows, out);
}

audit::DeliveredRecords Admission::DeliveredRecordsFor() const {
  return audit::DeliveredRecords(
      deps_.subject_hmac_key,
      decision_.dataset != nullptr ? decision_.dataset->id() : "");
}

// The column of `columns` that carries the dataset's key unmasked, or -1.
int Admission::DeliveredKeyColumn(
    const google::protobuf::RepeatedPtrField<std::string>& columns) const {
  if (decision_.dataset == nullptr || decision_.dataset->fields_size() == 0) {
    return -1;
  }
  const std::string& key_field = decision_.dataset->fields(0).name();
  for (const auto& m : decision_.masks) {
    if (m.field == key_field) return -1;  // the consumer holds no key
  }
  for (int i = 0; i < columns.size(); ++i) {
    if (columns.Get(i) == key_field) return i;
  }
  return -1;
}

void Admission::NoteDelivered(const v1::RecordBatch& out,
                              audit::DeliveredRecords* delivered) const {
  const int column = DeliveredKeyColumn(out.columns());
  if (column < 0) return;
  for (const v1::Row& row : out.rows()) {
    if (column < row.values_size() && !IsNull(row, column)) {
      delivered->Add(row.values(column));
    }
  }
}

void Admission::NoteDelivered(const v1::RawRecordBatch& out,
                              audit::DeliveredRecords* delivered) const {
  const int column = DeliveredKeyColumn(out.columns());
  if (column < 0 || out.rows_size() == 0) return;
  if (delivered->full()) {
    delivered->MarkMore();
    return;
  }
  v1::Row row;
  for (const std::string& bytes : out.rows()) {
    if (delivered->full()) {
      delivered->MarkMore();
      return;
    }
    if (row.ParseFromString(bytes) && column < row.values_size() &&
        !IsNull(row, column)) {
      delivered->Add(row.values(column));
    }
  }
}

void Admission::SettleQuota(uint64_t n) {
  if (decision_.records_charge == nullptr) return;
  decision_.records_charge->Use(n);
  decision_.records_charge.reset();
}

const v1::AdapterEndpoint& Admission::adapter() const {
  return decision_.dataset->adapter();
}

v1::AdapterRequest Admission::AdapterRequestFor(uint32_t max_records,
                                                uint32_t batch_rows) const {
  v1::AdapterRequest req;
  req.set_request_id(env().request_id());
  req.set_dataset_id(decision_.dataset->id());
  req.set_consumer_agency(env().consumer_agency());
  req.set_purpose_code(env().purpose_code());
  for (const auto& f : decision_.adapter_fields) req.add_fields(f);
  *req.mutable_query() = env().query();
  req.set_data_subject_id(env().data_subject_id());
  req.set_max_records(max_records);
  req.set_batch_rows(batch_rows);
  req.set_max_answer_bytes(AnswerBudget(deps_.max_answer_bytes));
  return req;
}

absl::Duration Admission::AdapterTimeout() const {
  return adapter().timeout_ms() != 0
             ? absl::Milliseconds(adapter().timeout_ms())
             : deps_.adapter_timeout;
}

absl::Time Admission::AdapterDeadline(bool stream) const {
  const absl::Time callers = absl::FromChrono(ctx_->deadline());
  if (stream) return callers;
  return std::min({received_ + AdapterTimeout(),
                   FromTimestamp(env().expires_at()), callers});
}

v1::ResponseEnvelope Admission::ResponseBase(
    const audit::AppendResult& receipt) const {
  v1::ResponseEnvelope r;
  r.set_request_sha256(checked_.request_sha256);
  r.set_request_id(env().request_id());
  r.set_status(v1::RESPONSE_STATUS_OK);
  r.set_gateway_node_id(deps_.node_id);
  v1::AuditReceipt* out = r.mutable_receipt();
  out->set_sequence_number(receipt.sequence_number);
  out->set_record_hash(receipt.record_hash);
  out->set_node_id(deps_.node_id);
  SetTimestamp(deps_.clock->Now(), r.mutable_issued_at());
  r.set_policy_version(decision_.policy_version);
  return r;
}

void Admission::RecordOutcome(const Refusal& r, v1::Decision decision) {
  record_.set_decision(decision);
  record_.set_reason(r.reason);
  record_.set_status_code(static_cast<int>(r.code));
  record_.set_message(r.message);
  if (!r.rule_id.empty()) record_.set_policy_rule_id(r.rule_id);
}

void Admission::StampTotal() {
  const absl::Time now = deps_.clock->Now();
  record_.set_time_unix_micros(absl::ToUnixMicros(now));
  record_.set_total_micros(absl::ToInt64Microseconds(now - received_));
}

void Admission::AdapterStarting() { adapter_started_ = deps_.clock->Now(); }

void Admission::AdapterDone(int grpc_code) {
  const absl::Duration took = deps_.clock->Now() - adapter_started_;
  record_.set_adapter_micros(absl::ToInt64Microseconds(took));
  stages_.Set(Stage::kAdapter, took);
  if (deps_.observer != nullptr) {
    deps_.observer->AdapterCalled(decision_.dataset->id(), grpc_code);
  }
}

void Admission::ReportClosed(int64_t audit_sequence, int grpc_code) {
  if (deps_.observer == nullptr) return;
  ExchangeOutcome o;
  o.request_id = record_.request_id();
  o.audit_sequence = audit_sequence;
  o.grpc_code = grpc_code;
  o.total = absl::Microseconds(record_.total_micros());
  if (decision_.dataset != nullptr) o.dataset = decision_.dataset->id();
  if (record_.identity_verified()) o.consumer = record_.consumer_agency();
  o.decision = record_.decision();
  o.reason = record_.reason();
  o.stream = stream_;
  o.records = record_.record_count();
  o.stages = stages_;
  deps_.observer->ExchangeClosed(o);
}

void Admission::FillRecordFromRequest() {
  record_.set_tls_agency(checked_.tls_agency);
  record_.set_request_sha256(checked_.request_sha256);
  record_.set_signer_cert_sha256(checked_.signer_fingerprint);
  record_.set_tls_cert_sha256(checked_.tls_cert_fingerprint);
  record_.set_identity_verified(checked_.identity_verified);
  record_.set_via_platform(checked_.via_platform);
  record_.set_via_gateway(checked_.via_gateway);
  if (!checked_.envelope_parsed) return;
  const v1::RequestEnvelope& e = env();
  record_.set_request_id(e.request_id());
  record_.set_consumer_agency(e.consumer_agency());
  record_.set_consumer_system(e.consumer_system());
  record_.set_dataset_id(e.dataset_id());
  record_.set_operation(e.operation());
  *record_.mutable_requested_fields() = e.fields();
  record_.set_purpose_code(e.purpose_code());
  record_.set_legal_basis(e.legal_basis());
  record_.set_consent_reference(e.consent_reference());
  record_.set_nonce(e.nonce());
  record_.set_request_expires_unix_micros(
      absl::ToUnixMicros(FromTimestamp(e.expires_at())));
  if (!e.data_subject_id().empty()) {
    record_.set_data_subject_hmac(
        certs::HmacSha256(deps_.subject_hmac_key, e.data_subject_id()));
  }
}

}  // namespace dx::gateway::internal
