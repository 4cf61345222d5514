// FederationRoutes: what a node of a federated platform asks of the
// anchors in force when a request crosses platforms
// (docs/FEDERATION.md#routing-through-peers):
//   - on the way out, where a dataset served by a peer platform goes (its
//     gateways and the roots their TLS certificates chain to), and whether
//     the answer that comes back is signed by a gateway of a platform the
//     anchors name;
//   - on the way in, whether a TLS client is a peer platform's gateway (a
//     hop), and the consumer of a forwarded request, whose certificate must
//     chain to the roots of the platform that speaks for its agency.
// This platform's own entry in an anchor is never a peer: a gateway of our
// own PKI is not a hop, and no dataset is routed to ourselves. An anchor
// past its expiry gives no trust (fail closed). Thread-safe; reads the
// anchors in force on each call, so a new anchor takes effect at once.
#ifndef DX_GATEWAY_FEDERATION_ROUTES_H_
#define DX_GATEWAY_FEDERATION_ROUTES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "dx/v1/config.pb.h"
#include "gateway/federation_trust.h"

namespace dx::gateway {

class FederationAnchors;

class FederationRoutes final : public FederationTrust {
 public:
  // `anchors` and `clock` must outlive this.
  FederationRoutes(const v1::FederationConfig& config,
                   const FederationAnchors* anchors, const Clock* clock)
      : platform_id_(config.platform_id()),
        max_hops_(config.max_hops() != 0 ? config.max_hops() : 3),
        return_margin_(absl::Milliseconds(
            config.return_margin_ms() != 0 ? config.return_margin_ms() : 200)),
        forward_timeout_(absl::Milliseconds(config.forward_timeout_ms() != 0
                                                ? config.forward_timeout_ms()
                                                : 10000)),
        anchors_(anchors),
        clock_(clock) {}

  const std::string& platform_id() const override { return platform_id_; }
  uint32_t max_hops() const override { return max_hops_; }
  absl::Duration return_margin() const override { return return_margin_; }
  absl::Duration forward_timeout() const override { return forward_timeout_; }

  // The route to `dataset.peer_platform()`: an anchor in force must name
  // that platform with at least one gateway. FAILED_PRECONDITION otherwise,
  // saying which anchor to fix.
  absl::StatusOr<PeerRoute> RouteTo(const v1::Dataset& dataset) const override;

  // Whether `signer_der` (a relayed answer's signer certificate) is a
  // gateway's (urn:dx:gateway:NODE) of a peer platform and chains to its
  // roots; returns that platform's id.
  absl::StatusOr<std::string> AnswerSignerPlatform(
      const std::string& signer_der) const override;

  std::string ServingPlatform(const v1::Dataset& dataset,
                              const PeerRoute& route) const override;

  // PEM of every peer platform's roots that has gateways: the TLS port
  // must let their gateways connect (each service checks the caller again
  // against this platform's own trust store; only Exchange takes hops).
  std::string PeerGatewayRootsPem() const;

  // The way in.
  absl::StatusOr<Hop> IdentifyHop(const std::string& tls_pem) const override;
  absl::StatusOr<certs::PkeyPtr> VerifyForwardedConsumer(
      const std::string& consumer_agency,
      const std::string& signer_der) const override;
  absl::StatusOr<std::string> VerifyOriginSigner(
      const std::string& consumer_agency,
      const std::string& signer_der) const override;

 private:
  // A verdict on a certificate (a hop's TLS certificate, a forwarded
  // consumer's, a relayed answer's signer), kept for a minute and while the
  // same anchors are in force: a chain check costs about a millisecond in
  // OpenSSL 3 (a store built per check), and a peer's gateway presents the
  // same certificates on every call. Measured: without it the provider's
  // gateway spent 4-7 ms of CPU per forwarded call.
  struct Cached;
  // The anchors in force as one string (operator and serial of each), to
  // see a change.
  std::string AnchorsToken() const;
  // How long a verdict made at `now` is kept.
  absl::Time VerdictUntil(absl::Time now) const;
  // The checks themselves, uncached.
  absl::StatusOr<Hop> DecideHop(const std::string& tls_pem,
                                absl::Time now) const;
  absl::StatusOr<certs::PkeyPtr> DecideForwardedConsumer(
      const std::string& consumer_agency, const std::string& signer_der,
      absl::Time now) const;
  absl::StatusOr<std::string> DecideAnswerSigner(const std::string& signer_der,
                                                 absl::Time now) const;
  absl::StatusOr<std::string> DecideOriginSigner(
      const std::string& consumer_agency, const std::string& signer_der,
      absl::Time now) const;
  // The verdict kept under `key`, or the one `decide` makes now (then kept).
  std::shared_ptr<const Cached> CachedVerdict(
      const std::string& key,
      absl::FunctionRef<void(absl::Time now, Cached* out)> decide) const;
  std::shared_ptr<const Cached> Lookup(const std::string& key,
                                       const std::string& token,
                                       absl::Time now) const;
  void Keep(const std::string& key,
            std::shared_ptr<const Cached> verdict) const;

  const std::string platform_id_;
  const uint32_t max_hops_;
  const absl::Duration return_margin_;
  const absl::Duration forward_timeout_;
  const FederationAnchors* const anchors_;
  const Clock* const clock_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const Cached>> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_FEDERATION_ROUTES_H_
