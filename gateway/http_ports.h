// The node's HTTP ports beside its gRPC one, each started only when the
// configuration names it: /metrics and /healthz (metrics.listen_address),
// the witness (witness.listen_address, gateway/witness_port.h), and the
// web console (console.listen_address), which reaches the
// administrative services through the gRPC server's in-process channel so
// that the gate decides its calls as it decides everyone's.
#ifndef DX_GATEWAY_HTTP_PORTS_H_
#define DX_GATEWAY_HTTP_PORTS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "console/console_server.h"
#include "gateway/witness_port.h"
#include "metrics/http_endpoint.h"

namespace dx::gateway {

class GrpcFrontEnd;
class NodeComponents;

// Null when metrics are off. `parts` must outlive it.
absl::StatusOr<std::unique_ptr<metrics::HttpEndpoint>> StartMetricsPort(
    NodeComponents* parts);

// Null when the witness is off. `parts` must outlive it.
absl::StatusOr<std::unique_ptr<WitnessPort>> StartWitnessPort(
    NodeComponents* parts);

// Null when the console is off; its TLS pair then follows the node's
// reloads. `parts` and `grpc` must outlive it.
absl::StatusOr<std::unique_ptr<console::ConsoleServer>> StartConsolePort(
    NodeComponents* parts, GrpcFrontEnd* grpc);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_HTTP_PORTS_H_
