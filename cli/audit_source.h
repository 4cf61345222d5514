// Where dxctl's audit commands read the log from: a running gateway's Audit
// service (--gateway, with an auditor's certificate), or a gateway's data
// folder opened read-only (--data-dir; works while the gateway runs).
#ifndef DX_CLI_AUDIT_SOURCE_H_
#define DX_CLI_AUDIT_SOURCE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "dx/v1/audit.pb.h"

namespace dx::cli {

class RemoteNode;

class AuditSource {
 public:
  using RecordFn = std::function<bool(const v1::StoredRecord&)>;
  virtual ~AuditSource() = default;

  // One page of a query; `next_token` is empty when nothing more matches.
  virtual absl::Status QueryPage(const v1::AuditQuery& query,
                                 const RecordFn& emit,
                                 std::string* next_token) = 0;
  virtual absl::StatusOr<v1::StoredRecord> Get(uint64_t seq) = 0;
  virtual absl::StatusOr<v1::InclusionProof> Inclusion(uint64_t seq,
                                                       uint64_t tree_size) = 0;
  virtual absl::StatusOr<v1::ConsistencyProof> Consistency(uint64_t first,
                                                           uint64_t second) = 0;
  virtual absl::StatusOr<v1::SignedTreeHead> TreeHead(uint64_t size) = 0;
  virtual absl::StatusOr<std::vector<v1::SignedTreeHead>> TreeHeads() = 0;
  virtual absl::Status ReadRecords(uint64_t from, uint64_t limit,
                                   const RecordFn& emit) = 0;
  virtual absl::StatusOr<std::vector<std::string>> CompactRange(
      uint64_t size) = 0;
  virtual absl::Status SubjectReport(const v1::SubjectReportRequest& request,
                                     const RecordFn& emit) = 0;
  // The records that delivered one record of a dataset (its recipients).
  virtual absl::Status RecordRecipients(
      const v1::RecordRecipientsRequest& request, const RecordFn& emit) = 0;
  // One bundle for [from, to) proven against the tree head of `tree_size`
  // records (0: the latest; to = 0: up to that tree head).
  virtual absl::StatusOr<v1::AuditBundle> Export(uint64_t from, uint64_t to,
                                                 uint64_t tree_size) = 0;
  virtual absl::StatusOr<v1::PruneResponse> Prune(
      const v1::PruneRequest& request) = 0;
  // Where `node`'s tree head is in the cluster checkpoint log (a cluster's
  // gateways only).
  virtual absl::StatusOr<v1::CheckpointProof> Checkpoint(
      const std::string& node, uint64_t min_tree_size) = 0;
};

// From --gateway (with --pki and --person/--agency, or --ca --cert --key) or
// --data-dir.
absl::StatusOr<std::unique_ptr<AuditSource>> OpenAuditSource(
    const Flags& flags);

// A gateway's (one node's) Audit service.
std::unique_ptr<AuditSource> RemoteAuditSource(RemoteNode node);

}  // namespace dx::cli

#endif  // DX_CLI_AUDIT_SOURCE_H_
