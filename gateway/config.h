// Loads the gateway's configuration file: YAML into dx.v1.GatewayConfig,
// relative paths resolved against the file's folder, defaults applied, and
// required settings checked (errors name the file and field).
#ifndef DX_GATEWAY_CONFIG_H_
#define DX_GATEWAY_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "dx/v1/config.pb.h"

namespace dx::gateway {

absl::StatusOr<v1::GatewayConfig> LoadGatewayConfig(const std::string& path);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_CONFIG_H_
