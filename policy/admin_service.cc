#include "policy/admin_service.h"

#include <grpcpp/grpcpp.h>

#include "certs/grpc_caller.h"

namespace dx::policy {
namespace {

using certs::PrincipalKind;

constexpr int kMaxPolicyBytes = 16 << 20;

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

absl::StatusOr<std::string> PolicyAdminService::Writer(
    grpc::ServerContext* ctx, const char* method) const {
  auto who = certs::AuthorizeCaller(
      *ctx, *trust_, {PrincipalKind::kPolicyAdmin}, "policy change");
  if (who.ok()) return certs::ActorName(*who);
  // Who tried, if the certificate says.
  auto anyone = certs::AuthorizeCaller(
      *ctx, *trust_,
      {PrincipalKind::kAgency, PrincipalKind::kGateway, PrincipalKind::kAdapter,
       PrincipalKind::kAuditor, PrincipalKind::kOperator},
      "policy");
  (void)Refused(anyone.ok() ? certs::ActorName(*anyone)
                            : absl::StrCat("unauthenticated ", ctx->peer()),
                method, who.status());
  return who.status();
}

grpc::Status PolicyAdminService::Refused(const std::string& actor,
                                         const char* method,
                                         const absl::Status& why) const {
  admin_->RecordRefusal(actor, method, why);
  return ToGrpc(why);
}

absl::Status PolicyAdminService::Reader(grpc::ServerContext* ctx) const {
  return certs::AuthorizeCaller(
             *ctx, *trust_,
             {PrincipalKind::kPolicyAdmin, PrincipalKind::kAuditor,
              PrincipalKind::kOperator},
             "policy")
      .status();
}

#define DX_WRITER_OR_RETURN(actor, ctx, method) \
  auto actor = Writer(ctx, method);             \
  if (!actor.ok()) return ToGrpc(actor.status())
#define DX_READER_OR_RETURN(ctx) \
  if (absl::Status s = Reader(ctx); !s.ok()) return ToGrpc(s)

grpc::Status PolicyAdminService::Apply(grpc::ServerContext* ctx,
                                       const v1::ApplyPolicyRequest* req,
                                       v1::ApplyPolicyResponse* out) {
  DX_WRITER_OR_RETURN(actor, ctx, "Apply");
  if (req->yaml().size() > kMaxPolicyBytes) {
    return Refused(*actor, "Apply",
                   absl::InvalidArgumentError(
                       "policy documents are limited to 16 MiB; split it by "
                       "dataset"));
  }
  return ReplyChange(*actor, "Apply", admin_->Apply(*actor, *req), out);
}

grpc::Status PolicyAdminService::Validate(grpc::ServerContext* ctx,
                                          const v1::ValidatePolicyRequest* req,
                                          v1::ValidatePolicyResponse* out) {
  DX_READER_OR_RETURN(ctx);
  *out = admin_->Validate(*req);
  return grpc::Status::OK;
}

grpc::Status PolicyAdminService::Get(grpc::ServerContext* ctx,
                                     const v1::GetPolicyRequest* req,
                                     v1::GetPolicyResponse* out) {
  DX_READER_OR_RETURN(ctx);
  return Reply(admin_->Get(*req), out);
}

grpc::Status PolicyAdminService::List(grpc::ServerContext* ctx,
                                      const v1::ListPoliciesRequest*,
                                      v1::ListPoliciesResponse* out) {
  DX_READER_OR_RETURN(ctx);
  return Reply(admin_->List(), out);
}

grpc::Status PolicyAdminService::History(grpc::ServerContext* ctx,
                                         const v1::PolicyHistoryRequest* req,
                                         v1::PolicyHistoryResponse* out) {
  DX_READER_OR_RETURN(ctx);
  return Reply(admin_->History(*req), out);
}

grpc::Status PolicyAdminService::Diff(grpc::ServerContext* ctx,
                                      const v1::PolicyDiffRequest* req,
                                      v1::PolicyDiffResponse* out) {
  DX_READER_OR_RETURN(ctx);
  return Reply(admin_->Diff(*req), out);
}

grpc::Status PolicyAdminService::Rollback(grpc::ServerContext* ctx,
                                          const v1::RollbackPolicyRequest* req,
                                          v1::ApplyPolicyResponse* out) {
  DX_WRITER_OR_RETURN(actor, ctx, "Rollback");
  return ReplyChange(*actor, "Rollback", admin_->Rollback(*actor, *req), out);
}

grpc::Status PolicyAdminService::ListPending(grpc::ServerContext* ctx,
                                             const v1::ListPendingRequest*,
                                             v1::ListPendingResponse* out) {
  DX_READER_OR_RETURN(ctx);
  return Reply(admin_->ListPending(), out);
}

grpc::Status PolicyAdminService::Approve(grpc::ServerContext* ctx,
                                         const v1::ApprovePolicyRequest* req,
                                         v1::ApplyPolicyResponse* out) {
  DX_WRITER_OR_RETURN(actor, ctx, "Approve");
  return ReplyChange(*actor, "Approve", admin_->Approve(*actor, *req), out);
}

grpc::Status PolicyAdminService::Reject(grpc::ServerContext* ctx,
                                        const v1::RejectPolicyRequest* req,
                                        v1::RejectPolicyResponse*) {
  DX_WRITER_OR_RETURN(actor, ctx, "Reject");
  absl::Status s = admin_->Reject(*actor, *req);
  return s.ok() ? grpc::Status::OK : Refused(*actor, "Reject", s);
}

grpc::Status PolicyAdminService::Explain(grpc::ServerContext* ctx,
                                         const v1::ExplainRequest* req,
                                         v1::ExplainResponse* out) {
  DX_READER_OR_RETURN(ctx);
  *out = admin_->Explain(*req);
  return grpc::Status::OK;
}

}  // namespace dx::policy
