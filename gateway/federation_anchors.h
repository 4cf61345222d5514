// FederationAnchors: the federation anchors a node holds in force
// (`federation.anchors` in its configuration; docs/FEDERATION.md#anchors).
// Each is checked at the start, and a node with an anchor that does not
// check does not start: it would route on a trust it cannot show. Each is
// read again when its files change (or on SIGHUP): a valid anchor with a
// higher serial replaces the one in force; anything else is refused and
// the one in force stays. The serial in force, and the digest of its file,
// are kept in the state database, so that a restart with an older file (or
// a different file under the same serial) is refused too: a root that a
// newer anchor dropped cannot come back by a restart. Thread-safe.
#ifndef DX_GATEWAY_FEDERATION_ANCHORS_H_
#define DX_GATEWAY_FEDERATION_ANCHORS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "certs/expiry.h"
#include "common/clock.h"
#include "dx/v1/config.pb.h"
#include "federation/anchor.h"

namespace dx::audit {
class StateDb;
}

namespace dx::gateway {

class FederationAnchors {
 public:
  struct Deps {
    const v1::FederationConfig* config = nullptr;  // normalized
    audit::StateDb* db = nullptr;
    const Clock* clock = nullptr;
  };
  // Each must outlive the object. Fails, naming the anchor and what is
  // wrong, when one does not check.
  static absl::StatusOr<std::unique_ptr<FederationAnchors>> Load(Deps deps);

  // Reads anchors[index]'s files again (for the ConfigReloader): what
  // changed, or why the change is refused.
  absl::StatusOr<std::string> Reload(size_t index) ABSL_LOCKS_EXCLUDED(mu_);

  // The anchor in force of `operator_platform_id`; null if none.
  std::shared_ptr<const federation::Anchor> Get(
      const std::string& operator_platform_id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Every anchor in force, in the configuration's order.
  std::vector<std::shared_ptr<const federation::Anchor>> All() const
      ABSL_LOCKS_EXCLUDED(mu_);
  // When each anchor in force runs out, and its operator's certificate
  // (for the node's status, metrics and alerts).
  std::vector<certs::Expiry> Expiries() const ABSL_LOCKS_EXCLUDED(mu_);
  // One line per anchor, for the start's log.
  std::vector<std::string> Describe() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Held {
    std::shared_ptr<const federation::Anchor> anchor;
    std::string sha256;  // of the anchor file's bytes
  };
  explicit FederationAnchors(Deps deps) : deps_(deps) {}
  // Reads and checks anchors[index] against what is held (in memory, else
  // in the state database); does not put it in force.
  absl::StatusOr<Held> Read(size_t index, const Held* in_force) const;
  absl::Status Keep(size_t index, const Held& held);

  const Deps deps_;
  mutable absl::Mutex mu_;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);  // per config anchor
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_FEDERATION_ANCHORS_H_
