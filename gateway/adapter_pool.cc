#include "gateway/adapter_pool.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace dx::gateway {

AdapterPool::Connection& AdapterPool::ConnectionFor(
    const v1::AdapterEndpoint& endpoint) {
  const std::string key =
      absl::StrCat(endpoint.address(), "|", endpoint.tls_server_name());
  Connection& c = connections_[key];
  if (!c.channel) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.ca_pem;
    ssl.pem_cert_chain = options_.cert_chain_pem;
    ssl.pem_private_key = options_.private_key_pem;
    grpc::ChannelArguments args;
    if (!endpoint.tls_server_name().empty()) {
      args.SetSslTargetNameOverride(endpoint.tls_server_name());
    }
    args.SetMaxReceiveMessageSize(options_.max_receive_bytes);
    // Reconnect quickly once an adapter that was down comes back.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    c.channel = grpc::CreateCustomChannel(endpoint.address(),
                                          grpc::SslCredentials(ssl), args);
    c.stub = v1::Adapter::NewStub(c.channel);
  }
  return c;
}

v1::Adapter::Stub* AdapterPool::StubFor(const v1::AdapterEndpoint& endpoint) {
  absl::MutexLock lock(&mu_);
  return ConnectionFor(endpoint).stub.get();
}

void AdapterPool::FetchStreamRaw(
    const v1::AdapterEndpoint& endpoint, grpc::ClientContext* ctx,
    const v1::AdapterRequest* request,
    grpc::ClientReadReactor<v1::RawRecordBatch>* reactor) {
  // The generated stub's own method, with another response type.
  static const grpc::internal::RpcMethod kFetchStream(
      "/dx.v1.Adapter/FetchStream",
      grpc::internal::RpcMethod::SERVER_STREAMING);
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    channel = ConnectionFor(endpoint).channel;
  }
  grpc::internal::ClientCallbackReaderFactory<v1::RawRecordBatch>::Create(
      channel.get(), kFetchStream, ctx, request, reactor);
}

}  // namespace dx::gateway
