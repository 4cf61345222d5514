#include "gateway/adapter_pool.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace dx::gateway {

void AdapterPool::SetIdentity(Options options) {
  absl::MutexLock lock(&mu_);
  // A rotation changes the identity, not the size limit.
  options.max_receive_bytes = options_.max_receive_bytes;
  options_ = std::move(options);
  for (auto& [key, channel] : channels_) retired_.push_back(std::move(channel));
  channels_.clear();
}

std::shared_ptr<grpc::Channel> AdapterPool::ChannelFor(
    const v1::AdapterEndpoint& endpoint) {
  const std::string key =
      absl::StrCat(endpoint.address(), "|", endpoint.tls_server_name());
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[key];
  if (!channel) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.ca_pem;
    ssl.pem_cert_chain = options_.cert_chain_pem;
    ssl.pem_private_key = options_.private_key_pem;
    grpc::ChannelArguments args;
    if (!endpoint.tls_server_name().empty()) {
      args.SetSslTargetNameOverride(endpoint.tls_server_name());
    }
    args.SetMaxReceiveMessageSize(options_.max_receive_bytes);
    // A fixed 256 KiB receive window per stream. With gRPC's default
    // bandwidth-delay probing the window grew on loopback until the
    // transport buffered tens of MiB of an adapter's stream that a slow
    // consumer was not reading (5 such streams: +44 to +193 MiB of RSS;
    // now +8). The gateway reads a batch at a time anyway.
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 256 << 10);
    // Reconnect quickly once an adapter that was down comes back.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    channel = grpc::CreateCustomChannel(endpoint.address(),
                                        grpc::SslCredentials(ssl), args);
  }
  return channel;
}

void AdapterPool::FetchRaw(const v1::AdapterEndpoint& endpoint,
                           grpc::ClientContext* ctx,
                           const v1::AdapterRequest* request,
                           grpc::ByteBuffer* response,
                           std::function<void(grpc::Status)> done) {
  // The generated stub's own methods, with raw answers.
  static const grpc::internal::RpcMethod kFetch(
      "/dx.v1.Adapter/Fetch", grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::internal::CallbackUnaryCall<v1::AdapterRequest, grpc::ByteBuffer,
                                    google::protobuf::MessageLite,
                                    grpc::ByteBuffer>(
      ChannelFor(endpoint).get(), kFetch, ctx, request, response,
      std::move(done));
}

void AdapterPool::FetchStreamRaw(
    const v1::AdapterEndpoint& endpoint, grpc::ClientContext* ctx,
    const v1::AdapterRequest* request,
    grpc::ClientReadReactor<grpc::ByteBuffer>* reactor) {
  static const grpc::internal::RpcMethod kFetchStream(
      "/dx.v1.Adapter/FetchStream",
      grpc::internal::RpcMethod::SERVER_STREAMING);
  grpc::internal::ClientCallbackReaderFactory<grpc::ByteBuffer>::Create(
      ChannelFor(endpoint).get(), kFetchStream, ctx, request, reactor);
}

}  // namespace dx::gateway
