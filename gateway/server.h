// GatewayServer: one gateway node, built from its configuration and its
// backends, started and stopped as a unit. main.cc runs one per process;
// tests start one in-process on a free port. It composes the node and
// nothing more: its components in dependency order (node_components.h),
// the gRPC port (grpc_front_end.h), the metrics and console ports
// (http_ports.h), the reloads without a restart (config_reloader.h) and
// the background duties (housekeeping.h).
#ifndef DX_GATEWAY_SERVER_H_
#define DX_GATEWAY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dx/v1/config.pb.h"
#include "gateway/node_components.h"

namespace dx::console {
class ConsoleServer;
}
namespace dx::metrics {
class HttpEndpoint;
}

namespace dx::gateway {

class ConfigReloader;
class GrpcFrontEnd;
class Housekeeping;
class WitnessPort;

class GatewayServer {
 public:
  using BackendsFactory = NodeComponents::BackendsFactory;
  using Options = NodeComponents::Options;

  // `config` as LoadGatewayConfig() returns it; `config_path` names the
  // file in the start record.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(
      v1::GatewayConfig config, std::string config_path, Options options);
  // Shuts down if that was not done.
  ~GatewayServer();

  int port() const;
  // Reads again what changed of the registry file, TLS certificate and
  // key, signing keys and trust anchors; checks each whole, then puts it in
  // force or refuses it (the old stays), and records either. `trigger`:
  // e.g. "SIGHUP".
  void Reload(const std::string& trigger);
  // Stops the background duties, refuses new calls, drains those in flight
  // (up to shutdown_grace_seconds), then closes the components: the audit
  // log writes what it has queued and a last tree head, the backends and
  // the databases close. Logs "stopped cleanly" last.
  void Shutdown();

 private:
  GatewayServer(v1::GatewayConfig config, std::string config_path);
  absl::Status Open(const Options& options);
  absl::Status RecordStart();
  std::string AdvertisedAddress() const;

  const v1::GatewayConfig config_;
  const std::string config_path_;
  // Started in this order, stopped in the reverse (Shutdown() says how).
  std::unique_ptr<NodeComponents> parts_;
  std::unique_ptr<GrpcFrontEnd> grpc_;
  std::unique_ptr<metrics::HttpEndpoint> metrics_;
  std::unique_ptr<console::ConsoleServer> console_;
  std::unique_ptr<WitnessPort> witness_;
  std::unique_ptr<ConfigReloader> reloader_;
  std::unique_ptr<Housekeeping> housekeeping_;
  bool shut_down_ = false;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_SERVER_H_
