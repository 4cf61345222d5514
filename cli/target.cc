#include "cli/target.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dx::cli {

std::string GatewayTarget(const std::string& addresses,
                          grpc::ChannelArguments* args) {
  const bool several =
      absl::StrContains(addresses, ',') || absl::StartsWith(addresses, "dns:");
  if (!several) return addresses;
  args->SetServiceConfigJSON(R"({
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": "dx.v1.Exchange"}
  })");
  if (absl::StartsWith(addresses, "dns:")) return addresses;
  return absl::StrCat("ipv4:", addresses);
}

}  // namespace dx::cli
