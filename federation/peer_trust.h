// What a platform checks of a request that reached it through a peer
// (docs/FEDERATION.md#routing-through-peers), on the trust an anchor gives:
// the consumer's signing certificate must chain to the roots of the
// platform that the anchor says speaks for the consumer's agency (so an
// agency of one platform cannot present itself as one of another: its
// certificate does not chain to the other's roots), and the TLS peer that
// forwards it must be one of a federated platform's gateways.
#ifndef DX_FEDERATION_PEER_TRUST_H_
#define DX_FEDERATION_PEER_TRUST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "federation/anchor.h"

namespace dx::federation {

struct FederatedConsumer {
  const Platform* platform;  // the platform that speaks for the agency
  certs::PkeyPtr key;        // the signer's key, to check the signature
};

// The consumer of a forwarded request: `signer_der` (the SignedRequest's
// signer_certificate) must name `consumer_agency` (urn:dx:agency:CODE) and
// chain, through the platform's intermediates, to a root of the platform
// that speaks for that agency, at `now`. PERMISSION_DENIED otherwise,
// naming the platform. Revocation is not checked here: the consumer's own
// platform, which holds its CRL, checks it at the first hop.
absl::StatusOr<FederatedConsumer> VerifyFederatedConsumer(
    const Anchor& anchor, absl::string_view consumer_agency,
    const std::string& signer_der, absl::Time now);

// The platform whose gateway presented `tls_der` (the TLS peer's
// certificate): it names a gateway (urn:dx:gateway:NODE), chains to that
// platform's roots, and carries one of its gateways' TLS names.
// PERMISSION_DENIED otherwise.
absl::StatusOr<const Platform*> PlatformOfPeerGateway(
    const Anchor& anchor, const std::string& tls_der, absl::Time now);

}  // namespace dx::federation

#endif  // DX_FEDERATION_PEER_TRUST_H_
