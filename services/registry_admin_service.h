// The RegistryAdmin gRPC service: authz/ has admitted the caller by its
// role (operators change the registry; policy administrators, auditors and
// operators read it); this hands over to RegistryAdmin.
#ifndef DX_SERVICES_REGISTRY_ADMIN_SERVICE_H_
#define DX_SERVICES_REGISTRY_ADMIN_SERVICE_H_

#include "authz/call_gate.h"
#include "dx/v1/registry.grpc.pb.h"
#include "gateway/registry_admin.h"

namespace dx::services {

class RegistryAdminService final : public v1::RegistryAdmin::Service {
 public:
  // Both must outlive the service.
  RegistryAdminService(gateway::RegistryAdmin* admin,
                       const authz::CallGate* gate)
      : admin_(admin), gate_(gate) {}

  grpc::Status Apply(grpc::ServerContext* ctx,
                     const v1::ApplyRegistryRequest* req,
                     v1::ApplyRegistryResponse* out) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRegistryRequest* req,
                   v1::GetRegistryResponse* out) override;
  grpc::Status History(grpc::ServerContext* ctx,
                       const v1::RegistryHistoryRequest* req,
                       v1::RegistryHistoryResponse* out) override;

 private:
  gateway::RegistryAdmin* const admin_;
  const authz::CallGate* const gate_;
};

}  // namespace dx::services

#endif  // DX_SERVICES_REGISTRY_ADMIN_SERVICE_H_
