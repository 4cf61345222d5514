#include "services/node_service.h"

#include <grpcpp/grpcpp.h>

#include "certs/identity.h"
#include "rpc/status.h"

namespace dx::services {

grpc::Status NodeService::Status(grpc::ServerContext* ctx,
                                 const v1::NodeStatusRequest*,
                                 v1::NodeStatus* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    *out = status_();
    return absl::OkStatus();
  });
}

grpc::Status NodeService::Backup(grpc::ServerContext* ctx,
                                 const v1::BackupRequest* req,
                                 v1::BackupManifest* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal& who) {
    return rpc::Reply(backup_(certs::ActorName(who), req->out_dir()), out);
  });
}

}  // namespace dx::services
