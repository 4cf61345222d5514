// InFlightLimiter: the cap on exchanges in flight (max_in_flight), and the
// count of calls refused for it (audited in aggregate, every 10 s, so that
// a flood cannot feed the audit log). The service waits on it before it is
// destroyed: a call's last callbacks run on gRPC's threads after its
// answer, and must not outlive the service. Thread-safe.
#ifndef DX_GATEWAY_INTERNAL_IN_FLIGHT_H_
#define DX_GATEWAY_INTERNAL_IN_FLIGHT_H_

#include <atomic>
#include <cstdint>

#include "absl/synchronization/mutex.h"

namespace dx::gateway::internal {

class InFlightLimiter {
 public:
  explicit InFlightLimiter(uint32_t max) : max_(max) {}

  // Takes a place, or counts a refusal and returns false.
  bool TryTake() {
    absl::MutexLock lock(&mu_);
    if (max_ != 0 && in_flight_ >= max_) {
      ++refusals_;
      ++refusals_total_;
      return false;
    }
    ++in_flight_;
    return true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  int64_t in_flight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }
  // Refusals since the start (for the metrics).
  uint64_t refusals_total() const {
    absl::MutexLock lock(&mu_);
    return refusals_total_;
  }
  // Refusals since the last call.
  uint64_t TakeRefusals() {
    absl::MutexLock lock(&mu_);
    const uint64_t n = refusals_;
    refusals_ = 0;
    return n;
  }
  // Blocks until no call holds a place.
  void WaitUntilIdle() const {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_ == 0;
    };
    mu_.Await(absl::Condition(&idle));
  }

 private:
  const int64_t max_;
  mutable absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refusals_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refusals_total_ ABSL_GUARDED_BY(mu_) = 0;
};

// Holds one place for the life of a call; declared first in a call object,
// so that it is given back last.
class InFlightSlot {
 public:
  explicit InFlightSlot(InFlightLimiter* limiter) : limiter_(limiter) {}
  InFlightSlot(const InFlightSlot&) = delete;
  InFlightSlot& operator=(const InFlightSlot&) = delete;
  ~InFlightSlot() { limiter_->Release(); }

 private:
  InFlightLimiter* const limiter_;
};

}  // namespace dx::gateway::internal

#endif  // DX_GATEWAY_INTERNAL_IN_FLIGHT_H_
