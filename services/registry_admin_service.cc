#include "services/registry_admin_service.h"

#include <grpcpp/grpcpp.h>

#include "certs/identity.h"
#include "rpc/status.h"

namespace dx::services {

grpc::Status RegistryAdminService::Apply(grpc::ServerContext* ctx,
                                         const v1::ApplyRegistryRequest* req,
                                         v1::ApplyRegistryResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal& who) {
    return rpc::Reply(admin_->Apply(certs::ActorName(who), *req), out);
  });
}

grpc::Status RegistryAdminService::Get(grpc::ServerContext* ctx,
                                       const v1::GetRegistryRequest*,
                                       v1::GetRegistryResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    *out = admin_->Get();
    return absl::OkStatus();
  });
}

grpc::Status RegistryAdminService::History(
    grpc::ServerContext* ctx, const v1::RegistryHistoryRequest* req,
    v1::RegistryHistoryResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(admin_->History(*req), out);
  });
}

}  // namespace dx::services
