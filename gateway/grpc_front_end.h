// GrpcFrontEnd: the node's gRPC port. It builds the administrative services
// (Audit, PolicyAdmin, RegistryAdmin, Node) over the node's components and
// serves them with Exchange, health and reflection on one mutual-TLS port
// (the copies NodeReloads::InstallTls writes, re-read by gRPC every second),
// behind the interceptors: metrics first (so that refused calls are counted
// too), then the authorization gate, then health's readiness. It also runs
// the subscriptions' idle expiry (hourly and at start: the service is its
// own). The one file that includes the services' headers. Thread-safe once
// started.
#ifndef DX_GATEWAY_GRPC_FRONT_END_H_
#define DX_GATEWAY_GRPC_FRONT_END_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
class Server;
class Service;
}  // namespace grpc

namespace dx {
class BackgroundTasks;
}  // namespace dx

namespace dx::gateway {

class NodeComponents;
class SubscriptionObserver;
class SubscriptionService;

class GrpcFrontEnd {
 public:
  // Listens on the configuration's listen_address (and writes port_file);
  // from then on health says what readiness says. `parts` must outlive it.
  static absl::StatusOr<std::unique_ptr<GrpcFrontEnd>> Start(
      NodeComponents* parts);
  // Stops the server (Drain() first for a graceful stop), then the
  // services.
  ~GrpcFrontEnd();

  int port() const { return port_; }
  // Calls into this very server (the console's), through its interceptors.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Refuses new calls, and waits up to `grace` for those in flight.
  void Drain(absl::Duration grace);

 private:
  explicit GrpcFrontEnd(NodeComponents* parts);
  absl::Status BuildServices();
  absl::Status Listen();
  void StartSubscriptionExpiry();
  void SetServing(bool serving);

  NodeComponents* const parts_;
  std::unique_ptr<grpc::Service> audit_;
  std::unique_ptr<grpc::Service> policy_;
  std::unique_ptr<grpc::Service> registry_;
  std::unique_ptr<grpc::Service> node_;
  // Before subscriptions_: the service uses it until it is gone.
  std::unique_ptr<SubscriptionObserver> subscription_metrics_;
  std::unique_ptr<SubscriptionService> subscriptions_;
  // The subscriptions' idle expiry, hourly and at start; stopped before
  // the service ends its streams (Drain) and before it goes.
  std::unique_ptr<BackgroundTasks> subscription_duties_;
  std::unique_ptr<grpc::Server> server_;  // last: goes before the services
  int port_ = 0;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_GRPC_FRONT_END_H_
