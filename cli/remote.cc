#include "cli/remote.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/pki_layout.h"
#include "cli/target.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "rpc/status.h"

namespace dx::cli {

absl::StatusOr<TlsIdentity> TlsIdentityFromFlags(const Flags& f,
                                                 absl::string_view env_person) {
  const PkiLayout pki{f.Get("pki")};
  TlsIdentity id{f.Get("ca"), f.Get("cert"), f.Get("key")};
  if (!pki.dir.empty()) {
    std::string who;
    if (f.Has("agency")) {
      who = pki.agency(f.Get("agency"));
    } else if (!f.Get("person").empty()) {
      who = pki.person(f.Get("person"));
    } else if (!env_person.empty()) {
      who = pki.person(std::string(env_person));
    }
    if (id.ca.empty()) id.ca = pki.root_ca();
    if (id.cert.empty() && !who.empty()) id.cert = who + "/tls.pem";
    if (id.key.empty() && !who.empty()) id.key = who + "/tls.key";
  }
  if (id.cert.empty() || id.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "say who you are: --person NAME (or ", kPersonEnv,
        "=NAME) with --pki DIR, or --cert F --key F; dxctl has no default "
        "identity"));
  }
  if (id.ca.empty()) {
    return absl::InvalidArgumentError(
        "say which CA the gateway's certificate chains to: --ca F, or --pki "
        "DIR");
  }
  return id;
}

absl::Status FromGrpc(const grpc::Status& s) { return rpc::FromGrpcStatus(s); }

absl::StatusOr<RemoteNode> RemoteNode::Open(const Flags& f) {
  if (!f.Has("gateway")) {
    return absl::InvalidArgumentError(
        "say which gateway: --gateway HOST:PORT (with --pki DIR --person "
        "NAME, or --ca --cert --key)");
  }
  return OpenTo(f, f.Get("gateway"));
}

absl::StatusOr<RemoteNode> RemoteNode::OpenTo(const Flags& f,
                                              const std::string& address) {
  const char* env = std::getenv(kPersonEnv);
  DX_ASSIGN_OR_RETURN(TlsIdentity id,
                      TlsIdentityFromFlags(f, env == nullptr ? "" : env));
  return Connect(id, address);
}

absl::StatusOr<RemoteNode> RemoteNode::Connect(const TlsIdentity& id,
                                               const std::string& addresses,
                                               ChannelLimits limits) {
  grpc::SslCredentialsOptions ssl;
  DX_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(id.ca));
  DX_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(id.cert));
  DX_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile(id.key));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(limits.max_receive_bytes);
  args.SetMaxSendMessageSize(limits.max_send_bytes);
  const std::string target = GatewayTarget(addresses, &args);
  return RemoteNode(
      grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args),
      addresses);
}

std::unique_ptr<grpc::ClientContext> RemoteNode::NewContext(
    absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

}  // namespace dx::cli
