// The Node gRPC service: a node's own account of itself (serving or why
// not, the revisions in force, its audit log's size) and the members of
// its cluster, for operators (dxctl status) and the web console.
#ifndef DX_SERVICES_NODE_SERVICE_H_
#define DX_SERVICES_NODE_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "authz/call_gate.h"
#include "dx/v1/cluster.grpc.pb.h"

namespace dx::services {

class NodeService final : public v1::Node::Service {
 public:
  using StatusFn = std::function<v1::NodeStatus()>;
  // Takes a backup for `actor` (audited by the callee).
  using BackupFn = std::function<absl::StatusOr<v1::BackupManifest>(
      const std::string& actor, const std::string& out_dir)>;
  NodeService(StatusFn status, BackupFn backup, const authz::CallGate* gate)
      : status_(std::move(status)), backup_(std::move(backup)), gate_(gate) {}

  grpc::Status Status(grpc::ServerContext* ctx,
                      const v1::NodeStatusRequest* req,
                      v1::NodeStatus* out) override;
  grpc::Status Backup(grpc::ServerContext* ctx, const v1::BackupRequest* req,
                      v1::BackupManifest* out) override;

 private:
  const StatusFn status_;
  const BackupFn backup_;
  const authz::CallGate* const gate_;
};

}  // namespace dx::services

#endif  // DX_SERVICES_NODE_SERVICE_H_
