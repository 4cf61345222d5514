// How a client names a gateway of one or several nodes:
//   "host:port"              one node;
//   "a:1,b:2,c:3"            each node of a cluster (IP addresses);
//   "dns:///name:port"       every address a DNS name resolves to.
// With several addresses, calls are spread round robin over the nodes
// that pass gRPC health checks for dx.v1.Exchange: a node that cannot
// serve (NOT_SERVING: its etcd unreachable, its audit log failing) or that
// is down gets no calls until it is back. dxctl and dxbench use it.
#ifndef DX_CLI_TARGET_H_
#define DX_CLI_TARGET_H_

#include <string>

namespace grpc {
class ChannelArguments;
}

namespace dx::cli {

// The gRPC target for `addresses`, and the service config `args` needs.
std::string GatewayTarget(const std::string& addresses,
                          grpc::ChannelArguments* args);

}  // namespace dx::cli

#endif  // DX_CLI_TARGET_H_
