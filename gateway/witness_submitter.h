// WitnessSubmitter: the housekeeping duty that has this node's own audit
// log witnessed (docs/FEDERATION.md, "Submitting to peer witnesses"). Each
// round it turns the latest signed tree head into a C2SP checkpoint signed
// with the log key, and posts it to every configured peer witness
// (c2sp.org/tlog-witness add-checkpoint) with the consistency proof from
// the size that peer holds. A 409 with `text/x.tlog.size` tells it that
// size (after a restart it knows none): it retries once from there. A 200's
// cosignature lines are verified with the peer's vkey and the cosigned
// checkpoint kept in the state database (meta column family,
// "witness/cosigned/<witness name>"); anything else is logged and retried
// next round. One thread (the duty's); not thread-safe.
#ifndef DX_GATEWAY_WITNESS_SUBMITTER_H_
#define DX_GATEWAY_WITNESS_SUBMITTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dx/v1/config.pb.h"

namespace dx::audit {
class AuditReader;
class StateDb;
}  // namespace dx::audit
namespace dx::certs {
class Signer;
}
namespace dx::witness {
class CosignatureVerifier;
class EcdsaNoteSigner;
}  // namespace dx::witness

namespace dx::gateway {

class WitnessSubmitter {
 public:
  struct Answer {
    int status = 0;
    std::string content_type;
    std::string body;
  };
  // POSTs `body` to `<peer.url>/add-checkpoint`.
  using Post = std::function<absl::StatusOr<Answer>(const v1::WitnessPeer& peer,
                                                    const std::string& body)>;
  struct Deps {
    v1::WitnessConfig config;
    const audit::AuditReader* reader = nullptr;  // not owned
    audit::StateDb* db = nullptr;                // not owned
    const certs::Signer* log_signer = nullptr;   // not owned
    Post post;
  };
  // Every peer's vkey is an Ed25519 (0x04) verifier key; the message names
  // the field otherwise.
  static absl::Status CheckPeers(const v1::WitnessConfig& config);
  // Refuses what CheckPeers refuses.
  static absl::StatusOr<std::unique_ptr<WitnessSubmitter>> Create(Deps deps);
  ~WitnessSubmitter();

  // One round: every peer that has not cosigned the latest tree head.
  void Tick();
  // The cosigned checkpoint kept for the witness `name`, or NotFound.
  absl::StatusOr<std::string> Cosigned(const std::string& name) const;

  // Over HTTPS with libcurl, `timeout_seconds` per request.
  static Post HttpsPost(int timeout_seconds);

 private:
  struct Peer;
  explicit WitnessSubmitter(Deps deps);
  // Posts `note` (of `size` leaves) to `peer`; OK once cosigned.
  absl::Status Submit(Peer& peer, uint64_t size, const std::string& text,
                      const std::string& note);

  Deps deps_;
  std::unique_ptr<witness::EcdsaNoteSigner> signer_;
  std::vector<Peer> peers_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_WITNESS_SUBMITTER_H_
