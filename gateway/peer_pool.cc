#include "gateway/peer_pool.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"

namespace dx::gateway {

void PeerPool::SetIdentity(Identity identity) {
  absl::MutexLock lock(&mu_);
  identity_ = std::move(identity);
  for (auto& [key, channel] : channels_) retired_.push_back(std::move(channel));
  channels_.clear();
}

std::shared_ptr<grpc::Channel> PeerPool::ChannelFor(
    const v1::FederationGateway& gateway, const std::string& roots_pem) {
  // The roots are part of the key: a new anchor with other roots must not
  // reuse a channel that trusts the old ones.
  const std::string key =
      absl::StrCat(gateway.address(), "|", gateway.tls_name(), "|",
                   certs::Sha256(roots_pem));
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[key];
  if (!channel) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = roots_pem;
    ssl.pem_cert_chain = identity_.cert_chain_pem;
    ssl.pem_private_key = identity_.private_key_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(gateway.tls_name());
    args.SetMaxReceiveMessageSize(max_receive_bytes_);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    channel = grpc::CreateCustomChannel(gateway.address(),
                                        grpc::SslCredentials(ssl), args);
  }
  return channel;
}

void PeerPool::CallRaw(const v1::FederationGateway& gateway,
                       const std::string& roots_pem, grpc::ClientContext* ctx,
                       const grpc::ByteBuffer* request,
                       grpc::ByteBuffer* response,
                       std::function<void(grpc::Status)> done) {
  static const grpc::internal::RpcMethod kCall(
      "/dx.v1.Exchange/Call", grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::internal::CallbackUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer,
                                    grpc::ByteBuffer, grpc::ByteBuffer>(
      ChannelFor(gateway, roots_pem).get(), kCall, ctx, request, response,
      std::move(done));
}

}  // namespace dx::gateway
