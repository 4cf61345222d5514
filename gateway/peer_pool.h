// PeerPool: one mutual-TLS channel per peer platform's gateway, made on
// first use and kept (docs/FEDERATION.md#routing-through-peers). This node
// connects as itself (its TLS pair, which chains to this platform's root,
// known to the peer from its anchor); the peer's certificate must chain
// to the roots the anchor gives for that platform and carry the gateway's
// TLS name. A new anchor that changes those roots makes a new channel.
// Thread-safe.
#ifndef DX_GATEWAY_PEER_POOL_H_
#define DX_GATEWAY_PEER_POOL_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dx/v1/exchange.pb.h"
#include "dx/v1/federation.pb.h"

namespace dx::gateway {

// What this node adds to an answer it relays (its hop receipt: a body, a
// signature and its certificate, about 1 KiB), with room to spare: a peer's
// answer is received up to the node's send limit less this, so that the
// answer can still be sent on once its record is written.
inline constexpr uint64_t kHopReceiptRoom = 16 << 10;

class PeerPool {
 public:
  struct Identity {
    std::string cert_chain_pem;
    std::string private_key_pem;
  };
  PeerPool(Identity identity, int max_receive_bytes)
      : max_receive_bytes_(max_receive_bytes), identity_(std::move(identity)) {}

  // A rotation of this node's TLS pair: new channels use it; calls under
  // way finish on the old ones.
  void SetIdentity(Identity identity);

  // Exchange.Call on `gateway`, whose certificate chains to `roots_pem`,
  // with the consumer's request as it came (its bytes are not re-encoded
  // by us) and the answer as raw bytes for the caller to decode.
  void CallRaw(const v1::FederationGateway& gateway,
               const std::string& roots_pem, grpc::ClientContext* ctx,
               const grpc::ByteBuffer* request, grpc::ByteBuffer* response,
               std::function<void(grpc::Status)> done);

 private:
  std::shared_ptr<grpc::Channel> ChannelFor(
      const v1::FederationGateway& gateway, const std::string& roots_pem);

  const int max_receive_bytes_;
  absl::Mutex mu_;
  Identity identity_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<grpc::Channel>> retired_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_PEER_POOL_H_
