// AdapterPool: one mutual-TLS channel per provider adapter endpoint, made on
// first use and kept. The gateway's TLS certificate is its client
// certificate; the adapter's certificate must chain to the same trust
// anchors and match the endpoint's tls_server_name. Thread-safe.
#ifndef DX_GATEWAY_ADAPTER_POOL_H_
#define DX_GATEWAY_ADAPTER_POOL_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/client_callback.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx::gateway {

class AdapterPool {
 public:
  struct Options {
    std::string ca_pem;
    std::string cert_chain_pem;
    std::string private_key_pem;
    // The largest adapter answer accepted: the gateway's own send limit
    // (max_response_bytes), never more than it can send on.
    int max_receive_bytes = 64 << 20;
  };
  explicit AdapterPool(Options options) : options_(std::move(options)) {}

  // New client identity and trust anchors (a rotation): new channels use
  // them; calls under way finish on the old ones.
  void SetIdentity(Options options);

  // Adapter.Fetch and Adapter.FetchStream on the callback API, with the
  // answers as raw bytes: the caller decodes them, and so sees an answer
  // that does not decode. (With a typed message, gRPC 1.51's callback
  // client reports such an answer as OK with an empty message, which would
  // pass an adapter's garbage off as "no records"; a test caught it.)
  void FetchRaw(const v1::AdapterEndpoint& endpoint, grpc::ClientContext* ctx,
                const v1::AdapterRequest* request, grpc::ByteBuffer* response,
                std::function<void(grpc::Status)> done);
  void FetchStreamRaw(const v1::AdapterEndpoint& endpoint,
                      grpc::ClientContext* ctx,
                      const v1::AdapterRequest* request,
                      grpc::ClientReadReactor<grpc::ByteBuffer>* reactor);

  // The channel to `endpoint`, for calls made with a stub (a subscription's
  // change feed, read on the subscription's own thread).
  std::shared_ptr<grpc::Channel> ChannelFor(
      const v1::AdapterEndpoint& endpoint);

 private:
  absl::Mutex mu_;
  Options options_ ABSL_GUARDED_BY(mu_);
  // Channels replaced by a rotation, kept for the calls still on them.
  std::vector<std::shared_ptr<grpc::Channel>> retired_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_ADAPTER_POOL_H_
