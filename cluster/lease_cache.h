// LeaseCache: shared etcd leases for keys that expire by time. Keys that
// must live until a moment in the same window share one lease, granted
// once to outlive the window by a margin, so that etcd holds a few dozen
// leases whatever the traffic (it revokes about a thousand a second, and
// mass expiry hurts: never one lease per key). Thread-safe.
#ifndef DX_CLUSTER_LEASE_CACHE_H_
#define DX_CLUSTER_LEASE_CACHE_H_

#include <cstdint>
#include <map>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "etcd/client.h"

namespace dx::cluster {

class LeaseCache {
 public:
  // Windows of `window` length; each lease outlives its window's end by
  // `margin` (the clock skew between nodes, and the lease's rounding).
  LeaseCache(etcd::Client* client, const Clock* clock, absl::Duration window,
             absl::Duration margin)
      : client_(client), clock_(clock), window_(window), margin_(margin) {}

  // A lease that lives at least until `until`. Blocks on a grant when the
  // window has none yet.
  absl::StatusOr<int64_t> LeaseUntil(absl::Time until);

 private:
  etcd::Client* const client_;
  const Clock* const clock_;
  const absl::Duration window_;
  const absl::Duration margin_;
  absl::Mutex mu_;
  // Window number -> lease id.
  std::map<int64_t, int64_t> leases_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_LEASE_CACHE_H_
