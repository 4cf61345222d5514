#include "services/policy_admin_service.h"

#include <grpcpp/grpcpp.h>

#include "certs/identity.h"
#include "rpc/status.h"

namespace dx::services {
namespace {

constexpr int kMaxPolicyBytes = 16 << 20;

}  // namespace

// Each handler runs for the caller the gate admitted (rpc::Handle); a
// change is made in the caller's name.

grpc::Status PolicyAdminService::Apply(grpc::ServerContext* ctx,
                                       const v1::ApplyPolicyRequest* req,
                                       v1::ApplyPolicyResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal& who) {
    const std::string actor = certs::ActorName(who);
    if (req->yaml().size() > kMaxPolicyBytes) {
      absl::Status too_big = absl::InvalidArgumentError(
          "policy documents are limited to 16 MiB; split it by dataset");
      admin_->RecordRefusal(actor, "Apply", too_big);
      return too_big;
    }
    return rpc::Reply(admin_->Apply(actor, *req), out);
  });
}

grpc::Status PolicyAdminService::Validate(grpc::ServerContext* ctx,
                                          const v1::ValidatePolicyRequest* req,
                                          v1::ValidatePolicyResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    *out = admin_->Validate(*req);
    return absl::OkStatus();
  });
}

grpc::Status PolicyAdminService::Get(grpc::ServerContext* ctx,
                                     const v1::GetPolicyRequest* req,
                                     v1::GetPolicyResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(admin_->Get(*req), out);
  });
}

grpc::Status PolicyAdminService::List(grpc::ServerContext* ctx,
                                      const v1::ListPoliciesRequest*,
                                      v1::ListPoliciesResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(admin_->List(), out);
  });
}

grpc::Status PolicyAdminService::History(grpc::ServerContext* ctx,
                                         const v1::PolicyHistoryRequest* req,
                                         v1::PolicyHistoryResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(admin_->History(*req), out);
  });
}

grpc::Status PolicyAdminService::Diff(grpc::ServerContext* ctx,
                                      const v1::PolicyDiffRequest* req,
                                      v1::PolicyDiffResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(admin_->Diff(*req), out);
  });
}

grpc::Status PolicyAdminService::Rollback(grpc::ServerContext* ctx,
                                          const v1::RollbackPolicyRequest* req,
                                          v1::ApplyPolicyResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal& who) {
    return rpc::Reply(admin_->Rollback(certs::ActorName(who), *req), out);
  });
}

grpc::Status PolicyAdminService::ListPending(grpc::ServerContext* ctx,
                                             const v1::ListPendingRequest*,
                                             v1::ListPendingResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(admin_->ListPending(), out);
  });
}

grpc::Status PolicyAdminService::Approve(grpc::ServerContext* ctx,
                                         const v1::ApprovePolicyRequest* req,
                                         v1::ApplyPolicyResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal& who) {
    return rpc::Reply(admin_->Approve(certs::ActorName(who), *req), out);
  });
}

grpc::Status PolicyAdminService::Reject(grpc::ServerContext* ctx,
                                        const v1::RejectPolicyRequest* req,
                                        v1::RejectPolicyResponse*) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal& who) {
    return admin_->Reject(certs::ActorName(who), *req);
  });
}

grpc::Status PolicyAdminService::Explain(grpc::ServerContext* ctx,
                                         const v1::ExplainRequest* req,
                                         v1::ExplainResponse* out) {
  return rpc::Handle(gate_->Caller(ctx), [&](const certs::Principal&) {
    *out = admin_->Explain(*req);
    return absl::OkStatus();
  });
}

}  // namespace dx::services
