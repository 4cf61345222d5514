// AdapterPool: one mutual-TLS channel per provider adapter endpoint, made on
// first use and kept. The gateway's TLS certificate is its client
// certificate; the adapter's certificate must chain to the same trust
// anchors and match the endpoint's tls_server_name. Thread-safe.
#ifndef DX_GATEWAY_ADAPTER_POOL_H_
#define DX_GATEWAY_ADAPTER_POOL_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dx/v1/adapter.grpc.pb.h"
#include "dx/v1/records.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx::gateway {

class AdapterPool {
 public:
  struct Options {
    std::string ca_pem;
    std::string cert_chain_pem;
    std::string private_key_pem;
    int max_receive_bytes = 256 << 20;
  };
  explicit AdapterPool(Options options) : options_(std::move(options)) {}

  v1::Adapter::Stub* StubFor(const v1::AdapterEndpoint& endpoint);

  // Adapter.FetchStream, read as RawRecordBatch (the same wire format, rows
  // left encoded; see record_filter.h) on the callback API.
  void FetchStreamRaw(const v1::AdapterEndpoint& endpoint,
                      grpc::ClientContext* ctx,
                      const v1::AdapterRequest* request,
                      grpc::ClientReadReactor<v1::RawRecordBatch>* reactor);

 private:
  struct Connection {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Adapter::Stub> stub;
  };
  Connection& ConnectionFor(const v1::AdapterEndpoint& endpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Connection> connections_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_ADAPTER_POOL_H_
