// ReplayStore: the seam that remembers (consumer, request id) and
// (consumer, nonce) until the request's expiry, so that neither is
// accepted twice: on this node, across restarts, and in a cluster across
// nodes. The check and the remembering are one atomic step, and complete
// through a callback, so that a store on the network (etcd) never blocks
// the thread that runs exchanges. Implementations: InMemoryReplayStore
// (the embedded default), and the cluster's etcd store, which keeps the
// in-memory one as a fast first check. Both pass the conformance suite in
// replay/replay_store_conformance.h.
#ifndef DX_REPLAY_REPLAY_STORE_H_
#define DX_REPLAY_REPLAY_STORE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/cancellation.h"

namespace dx::replay {

struct ReplayKey {
  std::string consumer;
  std::string request_id;
  std::string nonce;
  // Both are remembered until then, and no longer.
  absl::Time expires_at;
};

class ReplayStore {
 public:
  // OK(true): neither was seen, both are now remembered. OK(false): one of
  // them was seen (a replay), nothing new is remembered. UNAVAILABLE: the
  // store could not tell (the caller must refuse the request); CANCELLED
  // when `cancel` fired first (the request may or may not be remembered).
  using Callback = std::function<void(absl::StatusOr<bool> fresh)>;
  virtual ~ReplayStore() = default;

  // `done` runs exactly once, inline or on another thread. Thread-safe.
  virtual void CheckAndRemember(const ReplayKey& key, Cancellation* cancel,
                                Callback done) = 0;
  // Keys held now (two per request), for metrics.
  virtual size_t size() const = 0;
};

}  // namespace dx::replay

#endif  // DX_REPLAY_REPLAY_STORE_H_
