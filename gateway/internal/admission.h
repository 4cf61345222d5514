// Admission: what one exchange learns before anything is forwarded, and
// the audit record it fills as it goes. Three steps, in order:
//   1. Authenticate (no I/O): the gateway is ready, the request is
//      authentic and fresh (RequestChecker);
//   2. the replay check (replay::ReplayStore, may complete later);
//   3. Decide: the registry and the sharing policy, then quotas
//      (policy::Authorizer, may complete later).
// Then it serves the later stages: the adapter request and its deadline,
// the filter, the answer's envelope. Private to gateway/. Not thread-safe:
// one call's steps run one after another.
#ifndef DX_GATEWAY_INTERNAL_ADMISSION_H_
#define DX_GATEWAY_INTERNAL_ADMISSION_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "audit/record_hmac.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/audit.pb.h"
#include "gateway/exchange_deps.h"

namespace dx::gateway::internal {

class Admission {
 public:
  // `kind`: the record kind of an allowed call's first record (EXCHANGE,
  // STREAM_START or SUBSCRIPTION_START), which also says the access mode the
  // policy is asked about.
  Admission(const ExchangeDeps& deps, const grpc::ServerContextBase* ctx,
            v1::RecordKind kind);

  // Step 1; also records what the request says, as far as it could be read.
  Refusal Authenticate(bool accepting, const v1::SignedRequest& request);
  // Step 1 of a forwarded request (its TLS client is a peer platform's
  // gateway): its transit metadata, read after Authenticate. Refuses a
  // loop (this platform in the path), no hops left, or a request type not
  // served across platforms yet.
  Refusal CheckTransit();
  // Part of CheckTransit: the dx-origin-bin header.
  Refusal CheckOrigin();
  // Whether the request came from a peer platform's gateway.
  bool forwarded() const { return !checked_.via_platform.empty(); }

  // Step 2: `done` runs once, with the replay refusal or none.
  void CheckReplay(Cancellation* cancel, std::function<void(Refusal)> done);
  // Step 3, for a call that can return `max_records` (0: no limit): `done`
  // runs once, with the decision's refusal or none.
  // `charge_quota` false: a decision made again for a call already
  // admitted (a subscription under way) takes no quota.
  void Decide(uint64_t max_records, Cancellation* cancel,
              std::function<void(Refusal)> done, bool charge_quota = true);

  // For a call served long after it was admitted (a subscription): its
  // certificates verify again now (RequestChecker::RecheckCertificates).
  // Then Decide may be called again: the decision and the record's policy
  // fields are replaced by the policy now in force.
  Refusal RecheckCertificates(const v1::SignedRequest& request) const;

  const v1::RequestEnvelope& env() const { return checked_.envelope; }
  const std::string& request_id() const {
    return checked_.envelope.request_id();
  }
  const policy::AccessDecision& decision() const { return decision_; }
  v1::AuditRecord& record() { return record_; }

  // The record limit: the caller's, the gateway's and the daily quota's.
  uint64_t RecordLimit(uint64_t gateway_limit) const;
  // Which of those limits RecordLimit(gateway_limit) is (the caller's
  // first when two are equal), for an answer that it cut short.
  v1::Truncation LimitKind(uint64_t gateway_limit) const;
  // Which records an answer delivers, for the provider's corrections
  // (AuditRecord.delivered_record_hmacs): NoteDelivered adds the keys of
  // `out` (filtered, as sent) when it carries the dataset's key field (its
  // first) unmasked; an answer without it names no record the consumer
  // could match a correction to, and adds nothing.
  audit::DeliveredRecords DeliveredRecordsFor() const;
  void NoteDelivered(const v1::RecordBatch& out,
                     audit::DeliveredRecords* delivered) const;
  // The same for a stream's batch passed on undecoded: each row is decoded
  // for its key only while `delivered` is not full.
  void NoteDelivered(const v1::RawRecordBatch& out,
                     audit::DeliveredRecords* delivered) const;
  // Filters, projects and masks `in` into `out` as the decision says.
  uint64_t Filter(v1::RecordBatch* in, uint64_t max_rows,
                  v1::RecordBatch* out) const;
  // `n` records left for the consumer: they are charged to the daily
  // quota, and what the call had reserved beyond them goes back now.
  void SettleQuota(uint64_t n);

  const v1::AdapterEndpoint& adapter() const;
  // Whether the dataset allowed is served by a peer platform.
  bool ServedByPeer() const {
    return decision_.dataset != nullptr &&
           !decision_.dataset->peer_platform().empty();
  }
  // Before a request leaves for a peer platform: this platform's decision
  // must be one the relayed answer keeps, since the provider's signed
  // answer cannot be filtered in transit (no masks, no row filter, the
  // fields asked for all allowed).
  Refusal CheckLeaving() const;
  // The transit metadata to send on: this platform appended to the path,
  // one hop fewer, and the origin attestation (signed here for a request
  // of this platform's own consumer, else passed on as it came).
  std::string OnwardPath() const;
  uint32_t OnwardLimit() const;
  absl::StatusOr<std::string> OnwardOrigin() const;
  // The forward's deadline: the caller's less the way back's margin,
  // bounded by the request's expiry.
  absl::Time ForwardDeadline() const;
  const std::string& request_sha256() const { return checked_.request_sha256; }
  v1::AdapterRequest AdapterRequestFor(uint32_t max_records,
                                       uint32_t batch_rows) const;
  // A unary call's adapter deadline: the adapter timeout, bounded by the
  // request's expiry and the caller's deadline. A stream may run long: its
  // deadline is the caller's alone.
  absl::Time AdapterDeadline(bool stream) const;
  absl::Duration AdapterTimeout() const;

  // The envelope of an allowed answer, before records and signature.
  v1::ResponseEnvelope ResponseBase(const audit::AppendResult& receipt) const;
  // The record's outcome, and its time and duration.
  void RecordOutcome(const Refusal& refusal, v1::Decision decision);
  void StampTotal();

  // The adapter call's start, and its end with the adapter's status: its
  // duration goes to the record and the metrics.
  void AdapterStarting();
  void AdapterDone(int grpc_code);
  StageTimes& stages() { return stages_; }
  // Tells the observer (if any) how the exchange ended, with its record's
  // sequence number (-1: not recorded) and status; once, at its close.
  void ReportClosed(int64_t audit_sequence, int grpc_code);

 private:
  void FillRecordFromRequest();

  int DeliveredKeyColumn(
      const google::protobuf::RepeatedPtrField<std::string>& columns) const;

  const ExchangeDeps& deps_;
  const grpc::ServerContextBase* const ctx_;
  CheckedRequest checked_;
  policy::AccessDecision decision_;
  absl::Time received_;
  const bool stream_;
  const v1::RecordKind kind_;
  v1::AuditRecord record_;
  std::string mask_key_;
  // A forwarded request's transit metadata (CheckTransit).
  std::vector<std::string> hop_path_;
  uint32_t hop_limit_ = 0;
  std::string origin_;  // dx-origin-bin as it came  // for hash masks: per
                        // consumer (policy/masking.h)
  absl::Time adapter_started_;
  // Each slot written by one step; read at the close, after every step.
  StageTimes stages_;
};

}  // namespace dx::gateway::internal

#endif  // DX_GATEWAY_INTERNAL_ADMISSION_H_
