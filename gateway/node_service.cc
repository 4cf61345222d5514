#include "gateway/node_service.h"

#include <grpcpp/grpcpp.h>

#include "certs/identity.h"

namespace dx::gateway {

grpc::Status NodeService::Status(grpc::ServerContext* ctx,
                                 const v1::NodeStatusRequest*,
                                 v1::NodeStatus* out) {
  auto who = gate_->Caller(ctx);
  if (!who.ok()) {
    return grpc::Status(static_cast<grpc::StatusCode>(who.status().code()),
                        std::string(who.status().message()));
  }
  *out = status_();
  return grpc::Status::OK;
}

grpc::Status NodeService::Backup(grpc::ServerContext* ctx,
                                 const v1::BackupRequest* req,
                                 v1::BackupManifest* out) {
  auto who = gate_->Caller(ctx);
  if (!who.ok()) {
    return grpc::Status(static_cast<grpc::StatusCode>(who.status().code()),
                        std::string(who.status().message()));
  }
  auto m = backup_(certs::ActorName(*who), req->out_dir());
  if (!m.ok()) {
    return grpc::Status(static_cast<grpc::StatusCode>(m.status().code()),
                        std::string(m.status().message()));
  }
  *out = *std::move(m);
  return grpc::Status::OK;
}

}  // namespace dx::gateway
