// FederationTrust: what the exchange pipeline asks of the federation when a
// request crosses platforms (docs/FEDERATION.md#routing-through-peers). A
// seam: the pipeline (dx_gateway) knows this interface; the node
// implements it on its anchors in force (gateway/federation_routes.h).
#ifndef DX_GATEWAY_FEDERATION_TRUST_H_
#define DX_GATEWAY_FEDERATION_TRUST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "dx/v1/federation.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx::gateway {

// A peer platform's gateway, as its TLS certificate shows it.
struct Hop {
  std::string platform_id;
  std::string gateway_node;
};

// Where a request for a peer's dataset goes.
struct PeerRoute {
  std::string platform_id;
  // The platform's gateways, in the anchor's order (the first is tried).
  std::vector<v1::FederationGateway> gateways;
  // PEM of the platform's roots: its gateways' TLS certificates chain to
  // them.
  std::string roots_pem;
};

class FederationTrust {
 public:
  virtual ~FederationTrust() = default;

  // This platform's id.
  virtual const std::string& platform_id() const = 0;
  // The most platforms a request may cross after its consumer's own, and
  // what each forward leaves of the deadline for the way back.
  virtual uint32_t max_hops() const = 0;
  virtual absl::Duration return_margin() const = 0;

  // On the way in. The peer platform whose gateway `tls_pem` is; an error
  // when it is not one (an agency, a person, a gateway of no peer).
  virtual absl::StatusOr<Hop> IdentifyHop(const std::string& tls_pem) const = 0;
  // The key of a forwarded request's signer: `signer_der` names
  // `consumer_agency` and chains to the roots of the platform that speaks
  // for it. PERMISSION_DENIED otherwise, saying why.
  virtual absl::StatusOr<certs::PkeyPtr> VerifyForwardedConsumer(
      const std::string& consumer_agency,
      const std::string& signer_der) const = 0;

  // The platform that speaks for `consumer_agency`, when `signer_der` is a
  // gateway's signing certificate of that platform (an origin attestation's
  // signer). PERMISSION_DENIED otherwise, saying why; this platform's own
  // agencies never come through a peer.
  virtual absl::StatusOr<std::string> VerifyOriginSigner(
      const std::string& consumer_agency,
      const std::string& signer_der) const = 0;

  // On the way out. The route to `dataset.peer_platform()`;
  // FAILED_PRECONDITION when no anchor in force names it with a gateway.
  virtual absl::StatusOr<PeerRoute> RouteTo(
      const v1::Dataset& dataset) const = 0;
  // The peer platform whose gateway signed a relayed answer
  // (`signer_der` names a gateway and chains to that platform's roots).
  virtual absl::StatusOr<std::string> AnswerSignerPlatform(
      const std::string& signer_der) const = 0;
  // The platform whose gateway must sign the answer for `dataset`: the one
  // an anchor in force says serves it, else the next hop (`route`).
  virtual std::string ServingPlatform(const v1::Dataset& dataset,
                                      const PeerRoute& route) const = 0;
  // How long a forward may take at most, whatever the caller's deadline.
  virtual absl::Duration forward_timeout() const = 0;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_FEDERATION_TRUST_H_
