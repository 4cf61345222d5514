#include "cli/channel.h"

#include <grpcpp/grpcpp.h>

#include "cli/pki_layout.h"
#include "cli/target.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::cli {

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenGatewayChannel(
    const Flags& f, const std::string& default_person) {
  if (!f.Has("gateway")) {
    return absl::InvalidArgumentError(
        "say which gateway: --gateway HOST:PORT (with --pki DIR --person "
        "NAME, or --ca --cert --key)");
  }
  return OpenGatewayChannelTo(f, f.Get("gateway"), default_person);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenGatewayChannelTo(
    const Flags& f, const std::string& address,
    const std::string& default_person) {
  const PkiLayout pki{f.Get("pki")};
  std::string ca = f.Get("ca"), cert = f.Get("cert"), key = f.Get("key");
  if (!pki.dir.empty()) {
    const std::string who = f.Has("agency")
                                ? pki.agency(f.Get("agency"))
                                : pki.person(f.Get("person", default_person));
    if (ca.empty()) ca = pki.root_ca();
    if (cert.empty()) cert = who + "/tls.pem";
    if (key.empty()) key = who + "/tls.key";
  }
  grpc::SslCredentialsOptions ssl;
  DX_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(ca));
  DX_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(cert));
  DX_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile(key));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(512 << 20);
  args.SetMaxSendMessageSize(32 << 20);
  const std::string target = GatewayTarget(address, &args);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

}  // namespace dx::cli
