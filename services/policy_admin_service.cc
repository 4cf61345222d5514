#include "services/policy_admin_service.h"

#include <grpcpp/grpcpp.h>

#include "rpc/status.h"

namespace dx::services {
namespace {

constexpr int kMaxPolicyBytes = 16 << 20;

grpc::Status ToGrpc(const absl::Status& s) { return rpc::ToGrpcStatus(s); }

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

// The caller's actor name, as the gate admitted it; or the gate's refusal.
#define DX_ACTOR_OR_RETURN(actor, ctx)                        \
  auto actor##_who = gate_->Caller(ctx);                      \
  if (!actor##_who.ok()) return ToGrpc(actor##_who.status()); \
  const std::string actor = certs::ActorName(*actor##_who)
#define DX_ADMITTED_OR_RETURN(ctx) \
  if (auto who = gate_->Caller(ctx); !who.ok()) return ToGrpc(who.status())

grpc::Status PolicyAdminService::Apply(grpc::ServerContext* ctx,
                                       const v1::ApplyPolicyRequest* req,
                                       v1::ApplyPolicyResponse* out) {
  DX_ACTOR_OR_RETURN(actor, ctx);
  if (req->yaml().size() > kMaxPolicyBytes) {
    absl::Status too_big = absl::InvalidArgumentError(
        "policy documents are limited to 16 MiB; split it by dataset");
    admin_->RecordRefusal(actor, "Apply", too_big);
    return ToGrpc(too_big);
  }
  return Reply(admin_->Apply(actor, *req), out);
}

grpc::Status PolicyAdminService::Validate(grpc::ServerContext* ctx,
                                          const v1::ValidatePolicyRequest* req,
                                          v1::ValidatePolicyResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  *out = admin_->Validate(*req);
  return grpc::Status::OK;
}

grpc::Status PolicyAdminService::Get(grpc::ServerContext* ctx,
                                     const v1::GetPolicyRequest* req,
                                     v1::GetPolicyResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  return Reply(admin_->Get(*req), out);
}

grpc::Status PolicyAdminService::List(grpc::ServerContext* ctx,
                                      const v1::ListPoliciesRequest*,
                                      v1::ListPoliciesResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  return Reply(admin_->List(), out);
}

grpc::Status PolicyAdminService::History(grpc::ServerContext* ctx,
                                         const v1::PolicyHistoryRequest* req,
                                         v1::PolicyHistoryResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  return Reply(admin_->History(*req), out);
}

grpc::Status PolicyAdminService::Diff(grpc::ServerContext* ctx,
                                      const v1::PolicyDiffRequest* req,
                                      v1::PolicyDiffResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  return Reply(admin_->Diff(*req), out);
}

grpc::Status PolicyAdminService::Rollback(grpc::ServerContext* ctx,
                                          const v1::RollbackPolicyRequest* req,
                                          v1::ApplyPolicyResponse* out) {
  DX_ACTOR_OR_RETURN(actor, ctx);
  return Reply(admin_->Rollback(actor, *req), out);
}

grpc::Status PolicyAdminService::ListPending(grpc::ServerContext* ctx,
                                             const v1::ListPendingRequest*,
                                             v1::ListPendingResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  return Reply(admin_->ListPending(), out);
}

grpc::Status PolicyAdminService::Approve(grpc::ServerContext* ctx,
                                         const v1::ApprovePolicyRequest* req,
                                         v1::ApplyPolicyResponse* out) {
  DX_ACTOR_OR_RETURN(actor, ctx);
  return Reply(admin_->Approve(actor, *req), out);
}

grpc::Status PolicyAdminService::Reject(grpc::ServerContext* ctx,
                                        const v1::RejectPolicyRequest* req,
                                        v1::RejectPolicyResponse*) {
  DX_ACTOR_OR_RETURN(actor, ctx);
  return ToGrpc(admin_->Reject(actor, *req));
}

grpc::Status PolicyAdminService::Explain(grpc::ServerContext* ctx,
                                         const v1::ExplainRequest* req,
                                         v1::ExplainResponse* out) {
  DX_ADMITTED_OR_RETURN(ctx);
  *out = admin_->Explain(*req);
  return grpc::Status::OK;
}

}  // namespace dx::services
