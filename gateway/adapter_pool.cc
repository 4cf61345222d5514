#include "gateway/adapter_pool.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace dx::gateway {

v1::Adapter::Stub* AdapterPool::StubFor(const v1::AdapterEndpoint& endpoint) {
  const std::string key =
      absl::StrCat(endpoint.address(), "|", endpoint.tls_server_name());
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[key];
  if (!stub) {
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
    stub = v1::Adapter::NewStub(grpc::CreateCustomChannel(
        endpoint.address(), grpc::SslCredentials(ssl), args));
  }
  return stub.get();
}

}  // namespace dx::gateway
