// The PolicyAdmin gRPC service: checks the caller's role from its
// certificate, then hands over to PolicyAdmin. Policy administrators change
// policies; auditors, operators and policy administrators read them;
// agency systems are refused.
#ifndef DX_POLICY_ADMIN_SERVICE_H_
#define DX_POLICY_ADMIN_SERVICE_H_

#include "certs/trust_store.h"
#include "dx/v1/policy.grpc.pb.h"
#include "policy/policy_admin.h"

namespace dx::policy {

class PolicyAdminService final : public v1::PolicyAdmin::Service {
 public:
  // Both must outlive the service.
  PolicyAdminService(PolicyAdmin* admin, certs::TrustStore* trust)
      : admin_(admin), trust_(trust) {}

  grpc::Status Apply(grpc::ServerContext* ctx,
                     const v1::ApplyPolicyRequest* req,
                     v1::ApplyPolicyResponse* out) override;
  grpc::Status Validate(grpc::ServerContext* ctx,
                        const v1::ValidatePolicyRequest* req,
                        v1::ValidatePolicyResponse* out) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetPolicyRequest* req,
                   v1::GetPolicyResponse* out) override;
  grpc::Status List(grpc::ServerContext* ctx,
                    const v1::ListPoliciesRequest* req,
                    v1::ListPoliciesResponse* out) override;
  grpc::Status History(grpc::ServerContext* ctx,
                       const v1::PolicyHistoryRequest* req,
                       v1::PolicyHistoryResponse* out) override;
  grpc::Status Diff(grpc::ServerContext* ctx, const v1::PolicyDiffRequest* req,
                    v1::PolicyDiffResponse* out) override;
  grpc::Status Rollback(grpc::ServerContext* ctx,
                        const v1::RollbackPolicyRequest* req,
                        v1::ApplyPolicyResponse* out) override;
  grpc::Status ListPending(grpc::ServerContext* ctx,
                           const v1::ListPendingRequest* req,
                           v1::ListPendingResponse* out) override;
  grpc::Status Approve(grpc::ServerContext* ctx,
                       const v1::ApprovePolicyRequest* req,
                       v1::ApplyPolicyResponse* out) override;
  grpc::Status Reject(grpc::ServerContext* ctx,
                      const v1::RejectPolicyRequest* req,
                      v1::RejectPolicyResponse* out) override;
  grpc::Status Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                       v1::ExplainResponse* out) override;

 private:
  // The caller's actor name when it may change policies; a refusal is
  // recorded in the audit log with whoever the certificate names.
  absl::StatusOr<std::string> Writer(grpc::ServerContext* ctx,
                                     const char* method) const;
  // Records a refused change by `actor`, then returns it as a gRPC status.
  grpc::Status Refused(const std::string& actor, const char* method,
                       const absl::Status& why) const;
  // A change's answer; a refused change is recorded.
  template <typename T>
  grpc::Status ReplyChange(const std::string& actor, const char* method,
                           absl::StatusOr<T> result, T* out) const {
    if (!result.ok()) return Refused(actor, method, result.status());
    *out = *std::move(result);
    return grpc::Status::OK;
  }
  absl::Status Reader(grpc::ServerContext* ctx) const;

  PolicyAdmin* const admin_;
  certs::TrustStore* const trust_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_ADMIN_SERVICE_H_
