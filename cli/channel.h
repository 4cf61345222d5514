// The mutual-TLS channel dxctl's administrative commands (audit, policy)
// open to a gateway, as a person (--pki DIR --person NAME) or with explicit
// files (--ca --cert --key).
#ifndef DX_CLI_CHANNEL_H_
#define DX_CLI_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cli/flags.h"

namespace grpc {
class Channel;
}

namespace dx::cli {

// --gateway is required. With --pki, the certificate is
// DIR/people/<--person or default_person> (or DIR/agencies/<--agency>).
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenGatewayChannel(
    const Flags& flags, const std::string& default_person);

// The same credentials, to one node at `address` (host:port).
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenGatewayChannelTo(
    const Flags& flags, const std::string& address,
    const std::string& default_person);

}  // namespace dx::cli

#endif  // DX_CLI_CHANNEL_H_
