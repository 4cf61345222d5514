// AuditService: the Audit gRPC service (sync API: its handlers read RocksDB,
// which blocks, so they run on gRPC's sync thread pool, not on the callback
// executor that serves exchanges).
//
// Who may call what is authz/roles.h's table, enforced by its interceptor
// before a handler runs: auditors read everything; an agency may get
// inclusion proofs of its own exchanges (checked here, by the record);
// anyone authenticated may read tree heads and consistency proofs;
// operators prune records past the retention age. Reads of personal data
// (subject reports, searches by subject, exports) and prunes are recorded
// in the log as admin records.
#ifndef DX_SERVICES_AUDIT_SERVICE_H_
#define DX_SERVICES_AUDIT_SERVICE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "audit/audit_reader.h"
#include "audit/checkpoint_source.h"
#include "authz/call_gate.h"
#include "common/clock.h"
#include "dx/v1/audit.grpc.pb.h"

namespace dx::audit {
class Pruner;
}  // namespace dx::audit
namespace dx::certs {
class Signer;
}  // namespace dx::certs

namespace dx::services {

class AuditService final : public v1::Audit::Service {
 public:
  struct Deps {
    audit::StateDb* db = nullptr;
    audit::AuditLog* log = nullptr;
    // Admits callers (authz/roles.h) and says who they are.
    const authz::CallGate* gate = nullptr;
    std::string subject_hmac_key;
    // Issuers of the log signing certificate up to the root (DER), for
    // export bundles.
    std::vector<std::string> chain_der;
    absl::Duration retention = absl::Hours(24 * 365);
    const Clock* clock = SystemClock::Get();
    std::string node_id;
    // The cluster checkpoint log; null on a single node.
    audit::CheckpointSource* checkpoints = nullptr;
    audit::Pruner* pruner = nullptr;
    // Signs statistics reports (the log key); reports are refused when
    // null.
    const certs::Signer* log_signer = nullptr;
    // The codes linked to an agency by successions in the registry in
    // force, the agency first (AuditQuery.consumer_lineage); null: none.
    std::function<std::vector<std::string>(const std::string&)> lineage;
  };
  explicit AuditService(Deps deps)
      : deps_(std::move(deps)), reader_(deps_.db) {}

  grpc::Status Query(grpc::ServerContext* ctx, const v1::AuditQuery* req,
                     grpc::ServerWriter<v1::AuditQueryResponse>* out) override;
  grpc::Status GetRecord(grpc::ServerContext* ctx,
                         const v1::GetRecordRequest* req,
                         v1::StoredRecord* out) override;
  grpc::Status GetInclusionProof(grpc::ServerContext* ctx,
                                 const v1::GetInclusionProofRequest* req,
                                 v1::InclusionProof* out) override;
  grpc::Status GetConsistencyProof(grpc::ServerContext* ctx,
                                   const v1::GetConsistencyProofRequest* req,
                                   v1::ConsistencyProof* out) override;
  grpc::Status GetTreeHead(grpc::ServerContext* ctx,
                           const v1::GetTreeHeadRequest* req,
                           v1::SignedTreeHead* out) override;
  grpc::Status ListTreeHeads(grpc::ServerContext* ctx,
                             const v1::ListTreeHeadsRequest* req,
                             v1::ListTreeHeadsResponse* out) override;
  grpc::Status ReadRecords(grpc::ServerContext* ctx,
                           const v1::ReadRecordsRequest* req,
                           grpc::ServerWriter<v1::StoredRecord>* out) override;
  grpc::Status GetCompactRange(grpc::ServerContext* ctx,
                               const v1::CompactRangeRequest* req,
                               v1::CompactRangeResponse* out) override;
  grpc::Status RecordRecipients(
      grpc::ServerContext* ctx, const v1::RecordRecipientsRequest* req,
      grpc::ServerWriter<v1::StoredRecord>* out) override;
  grpc::Status SubjectReport(
      grpc::ServerContext* ctx, const v1::SubjectReportRequest* req,
      grpc::ServerWriter<v1::StoredRecord>* out) override;
  grpc::Status Export(grpc::ServerContext* ctx, const v1::ExportRequest* req,
                      grpc::ServerWriter<v1::AuditBundle>* out) override;
  grpc::Status Prune(grpc::ServerContext* ctx, const v1::PruneRequest* req,
                     v1::PruneResponse* out) override;
  grpc::Status GetCheckpointProof(grpc::ServerContext* ctx,
                                  const v1::GetCheckpointProofRequest* req,
                                  v1::CheckpointProof* out) override;
  grpc::Status StatisticsReport(grpc::ServerContext* ctx,
                                const v1::StatisticsReportRequest* req,
                                v1::SignedStatisticsReport* out) override;

 private:
  // Appends an admin record and waits until it is durable.
  absl::Status RecordAdminAction(const certs::Principal& who,
                                 const std::string& action,
                                 const std::string& detail);

  const Deps deps_;
  audit::AuditReader reader_;
};

}  // namespace dx::services

#endif  // DX_SERVICES_AUDIT_SERVICE_H_
