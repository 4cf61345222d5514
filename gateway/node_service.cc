#include "gateway/node_service.h"

#include <grpcpp/grpcpp.h>

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

}  // namespace dx::gateway
