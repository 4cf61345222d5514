// The one way dxctl calls a node: the mutual-TLS channel (as a person with
// --pki DIR --person NAME, as an agency with --agency CODE, or with explicit
// --ca --cert --key), a deadline on every call, and gRPC's status turned
// into absl's once. Every command that talks to a gateway goes through it,
// so that a call never hangs and every failure reads alike.
//
// dxctl has no identity of its own: a command that needs one and is given
// none says which flag (or DXCTL_PERSON) to set; the development names
// (admin1, ops1, auditor1) are the demos' and tests' choice, not dxctl's.
//
// Thread-safe: a RemoteNode may be shared by threads (its channel is).
#ifndef DX_CLI_REMOTE_H_
#define DX_CLI_REMOTE_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/flags.h"

namespace dx::cli {

// The environment variable that names the person when --person is absent.
inline constexpr char kPersonEnv[] = "DXCTL_PERSON";

// The files of a TLS client identity.
struct TlsIdentity {
  std::string ca;
  std::string cert;
  std::string key;
};

// From --ca --cert --key, each defaulting, with --pki DIR, to the PKI's
// root CA and the folder of --agency CODE or of --person NAME (or
// `env_person`, the value of DXCTL_PERSON). No identity at all is
// INVALID_ARGUMENT naming the flags to set. Pure: reads no file.
absl::StatusOr<TlsIdentity> TlsIdentityFromFlags(const Flags& flags,
                                                 absl::string_view env_person);

// gRPC's status as absl's: rpc::FromGrpcStatus (rpc/status.h, the
// project's one conversion), under the name cli/ has always used.
absl::Status FromGrpc(const grpc::Status& status);

// The message limits of a channel (the audit log's bundles are large).
struct ChannelLimits {
  int max_receive_bytes = 512 << 20;
  int max_send_bytes = 32 << 20;
};

class RemoteNode {
 public:
  // A call that is not a stream: answers within this or fails.
  static constexpr absl::Duration kCallTimeout = absl::Seconds(60);

  // To --gateway (required), with the identity of TlsIdentityFromFlags
  // (DXCTL_PERSON read from the environment).
  static absl::StatusOr<RemoteNode> Open(const Flags& flags);
  // The same identity, to one node at `address` (host:port).
  static absl::StatusOr<RemoteNode> OpenTo(const Flags& flags,
                                           const std::string& address);
  // `addresses` as cli/target.h reads them, with `identity`'s files.
  static absl::StatusOr<RemoteNode> Connect(const TlsIdentity& identity,
                                            const std::string& addresses,
                                            ChannelLimits limits = {});

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& address() const { return address_; }

  // A context for one call (unary or stream) that ends by `timeout`.
  static std::unique_ptr<grpc::ClientContext> NewContext(
      absl::Duration timeout);

  // One unary call: `(stub.*method)(context, request, response)` with a
  // deadline of `timeout`, its status as absl's.
  template <typename Stub, typename Request, typename Response>
  static absl::Status Call(Stub& stub,
                           grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                        const Request&,
                                                        Response*),
                           const Request& request, Response* response,
                           absl::Duration timeout = kCallTimeout);

 private:
  RemoteNode(std::shared_ptr<grpc::Channel> channel, std::string address)
      : channel_(std::move(channel)), address_(std::move(address)) {}

  std::shared_ptr<grpc::Channel> channel_;
  std::string address_;
};

// A RemoteNode with the stub of one service on it.
template <typename Service>
class RemoteService {
 public:
  explicit RemoteService(RemoteNode node)
      : node_(std::move(node)), stub_(Service::NewStub(node_.channel())) {}

  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (Service::Stub::*method)(grpc::ClientContext*,
                                                          const Request&,
                                                          Response*),
                    const Request& request, Response* response,
                    absl::Duration timeout = RemoteNode::kCallTimeout) {
    return RemoteNode::Call(*stub_, method, request, response, timeout);
  }
  typename Service::Stub& stub() { return *stub_; }
  const RemoteNode& node() const { return node_; }

 private:
  RemoteNode node_;
  std::unique_ptr<typename Service::Stub> stub_;
};

template <typename Stub, typename Request, typename Response>
absl::Status RemoteNode::Call(Stub& stub,
                              grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                           const Request&,
                                                           Response*),
                              const Request& request, Response* response,
                              absl::Duration timeout) {
  std::unique_ptr<grpc::ClientContext> context = NewContext(timeout);
  return FromGrpc((stub.*method)(context.get(), request, response));
}

}  // namespace dx::cli

#endif  // DX_CLI_REMOTE_H_
