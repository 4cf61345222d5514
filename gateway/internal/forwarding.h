// What a platform does with a request it forwards to a peer platform and
// with what comes back (docs/FEDERATION.md#routing-through-peers): the
// peer's refusal relayed as it came, a peer that cannot be reached named,
// the answer checked before it is relayed, and this hop's signed receipt
// added beside it. Pure functions; UnaryCall runs them. Private to
// gateway/.
#ifndef DX_GATEWAY_INTERNAL_FORWARDING_H_
#define DX_GATEWAY_INTERNAL_FORWARDING_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "audit/audit_log.h"
#include "certs/crypto.h"
#include "dx/v1/errors.pb.h"
#include "dx/v1/exchange.pb.h"
#include "gateway/federation_trust.h"
#include "gateway/refusal.h"

namespace dx::gateway::internal {

// The dx.v1.ErrorDetail a peer gateway put in its status; false if none.
bool PeerErrorDetail(const grpc::Status& status, v1::ErrorDetail* out);

// How this hop records a peer's refusal that carries an ErrorDetail (the
// consumer gets the peer's status itself): as the refusal of the peer it
// came from (`peer_platform`), naming the platform the detail claims,
// which this hop cannot check.
Refusal RecordedPeerRefusal(const grpc::Status& status,
                            const v1::ErrorDetail& detail,
                            const std::string& peer_platform);

// A peer that failed without a refusal of its own (down, too slow, an
// answer over the size limit): REASON_PEER_UNAVAILABLE naming it.
Refusal PeerFailure(const grpc::Status& status, const PeerRoute& route,
                    const v1::FederationGateway& gateway);

// The relayed answer must be a signed ResponseEnvelope for this very
// request (`request_sha256`), signed by a gateway of `serving_platform`
// (the one an anchor says serves the dataset: a hub in between cannot sign
// an answer of its own), the node its envelope names, and verify. Fills
// `env` with its envelope.
absl::Status CheckRelayedAnswer(const FederationTrust& federation,
                                const v1::SignedResponse& answer,
                                const std::string& request_sha256,
                                const std::string& serving_platform,
                                v1::ResponseEnvelope* env);

// Signs this hop's receipt for the record `receipt` and adds it to
// `answer.hop_receipts`.
absl::Status AddHopReceipt(const certs::Signer& signer,
                           const std::string& platform_id,
                           const std::string& node_id,
                           const std::string& request_sha256,
                           const std::string& routed_to_platform,
                           const audit::AppendResult& receipt, absl::Time now,
                           v1::SignedResponse* answer);

}  // namespace dx::gateway::internal

#endif  // DX_GATEWAY_INTERNAL_FORWARDING_H_
