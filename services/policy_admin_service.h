// The PolicyAdmin gRPC service: authz/ has admitted the caller by its role
// (policy administrators change policies; auditors, operators and policy
// administrators read them); this hands over to PolicyAdmin, which records
// every change and every refused change.
#ifndef DX_SERVICES_POLICY_ADMIN_SERVICE_H_
#define DX_SERVICES_POLICY_ADMIN_SERVICE_H_

#include "authz/call_gate.h"
#include "dx/v1/policy.grpc.pb.h"
#include "policy/policy_admin.h"

namespace dx::services {

class PolicyAdminService final : public v1::PolicyAdmin::Service {
 public:
  // Both must outlive the service.
  PolicyAdminService(policy::PolicyAdmin* admin, const authz::CallGate* gate)
      : admin_(admin), gate_(gate) {}

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
  policy::PolicyAdmin* const admin_;
  const authz::CallGate* const gate_;
};

}  // namespace dx::services

#endif  // DX_SERVICES_POLICY_ADMIN_SERVICE_H_
