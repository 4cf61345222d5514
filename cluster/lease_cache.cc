#include "cluster/lease_cache.h"

namespace dx::cluster {

absl::StatusOr<int64_t> LeaseCache::LeaseUntil(absl::Time until) {
  const int64_t w = absl::ToInt64Microseconds(until - absl::UnixEpoch()) /
                    absl::ToInt64Microseconds(window_);
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    // Leases of windows that are over have expired in etcd by now.
    const int64_t current =
        absl::ToInt64Microseconds(now - absl::UnixEpoch() - margin_) /
        absl::ToInt64Microseconds(window_);
    while (!leases_.empty() && leases_.begin()->first < current) {
      leases_.erase(leases_.begin());
    }
    if (auto it = leases_.find(w); it != leases_.end()) return it->second;
  }
  const absl::Time window_end = absl::UnixEpoch() + window_ * (w + 1);
  absl::StatusOr<int64_t> id = client_->GrantLease(
      std::max(window_end - now, absl::ZeroDuration()) + margin_);
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&mu_);
  // Another thread may have granted one meanwhile: either does.
  return leases_.emplace(w, *id).first->second;
}

}  // namespace dx::cluster
