// GrpcServerMetrics: the gRPC server families every Prometheus user knows
// (the names of go-grpc-prometheus): grpc_server_started_total,
// grpc_server_handled_total{grpc_code} and the grpc_server_handling_seconds
// histogram, each by grpc_type, grpc_service and grpc_method, counted by a
// server interceptor. Methods outside the services named at construction
// (a client can send any path) are counted as grpc_service="unknown", so
// that no caller can grow the label set. Thread-safe.
#ifndef DX_METRICS_GRPC_SERVER_METRICS_H_
#define DX_METRICS_GRPC_SERVER_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "prometheus/registry.h"

namespace dx::metrics {

// The name go-grpc-prometheus gives a status code ("OK", "Unavailable").
const char* GrpcCodeName(int code);

// `services`: full names of the services the server offers (e.g.
// "dx.v1.Exchange"); their methods are read from the linked descriptors.
// Health and reflection are always known. `registry` outlives the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcServerMetrics(prometheus::Registry* registry,
                     const std::vector<std::string>& services);

}  // namespace dx::metrics

#endif  // DX_METRICS_GRPC_SERVER_METRICS_H_
