// The node's status and backup, as the Node service gives them (dxctl
// status, dxctl backup, the console's overview): serving or why not, the
// policy and registry revisions, the audit log, the cluster's members and
// known nodes and audit alarms, and the certificates and CRLs that run out.
// Plain functions of their sources, so that each is tested alone.
#ifndef DX_GATEWAY_NODE_STATUS_H_
#define DX_GATEWAY_NODE_STATUS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/admin_recorder.h"
#include "certs/expiry.h"
#include "dx/v1/audit.pb.h"
#include "dx/v1/cluster.pb.h"
#include "dx/v1/config.pb.h"
#include "gateway/backends.h"
#include "gateway/backup.h"

namespace dx::gateway {

struct NodeStatusSources {
  std::string node_id;
  absl::Time started;
  // "etcd" (the cluster's shared state) or "local".
  std::string state;
  // OK: exchanges may be served.
  std::function<absl::Status()> not_serving;
  std::function<uint64_t()> policy_revision;
  std::function<uint64_t()> registry_revision;
  // The next sequence number of the node's audit log.
  std::function<uint64_t()> audit_records;
  std::function<absl::StatusOr<v1::SignedTreeHead>()> tree_head;
  const BackendsRuntime* runtime = nullptr;
  const ClusterAuditTrail* trail = nullptr;  // null on a single node
  std::function<std::vector<certs::Expiry>()> expiries;
};

v1::NodeStatus NodeStatusOf(const NodeStatusSources& sources);

// The certificates and CRLs the configuration names, and when they run out
// (files that cannot be read are left out: the start checked them).
std::vector<certs::Expiry> NodeExpiries(const v1::GatewayConfig& config);

// Takes a backup into `out_dir` and records it by `actor` (a failed one as
// gateway.backup-failed), then logs it.
absl::StatusOr<v1::BackupManifest> RecordedBackup(
    const BackupSources& sources, const std::string& actor,
    const std::string& out_dir, audit::AdminRecorder* recorder);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_NODE_STATUS_H_
