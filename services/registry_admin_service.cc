#include "services/registry_admin_service.h"

#include <grpcpp/grpcpp.h>

#include "rpc/status.h"

namespace dx::services {
namespace {

grpc::Status ToGrpc(const absl::Status& s) { return rpc::ToGrpcStatus(s); }

}  // namespace

grpc::Status RegistryAdminService::Apply(grpc::ServerContext* ctx,
                                         const v1::ApplyRegistryRequest* req,
                                         v1::ApplyRegistryResponse* out) {
  auto who = gate_->Caller(ctx);
  if (!who.ok()) return ToGrpc(who.status());
  auto r = admin_->Apply(certs::ActorName(*who), *req);
  if (!r.ok()) return ToGrpc(r.status());
  *out = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status RegistryAdminService::Get(grpc::ServerContext* ctx,
                                       const v1::GetRegistryRequest*,
                                       v1::GetRegistryResponse* out) {
  if (auto who = gate_->Caller(ctx); !who.ok()) return ToGrpc(who.status());
  *out = admin_->Get();
  return grpc::Status::OK;
}

grpc::Status RegistryAdminService::History(
    grpc::ServerContext* ctx, const v1::RegistryHistoryRequest* req,
    v1::RegistryHistoryResponse* out) {
  if (auto who = gate_->Caller(ctx); !who.ok()) return ToGrpc(who.status());
  auto r = admin_->History(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *out = *std::move(r);
  return grpc::Status::OK;
}

}  // namespace dx::services
