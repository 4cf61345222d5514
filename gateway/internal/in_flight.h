// InFlightLimiter: the cap on exchanges in flight (max_in_flight), and the
// count of calls refused for it (audited in aggregate, every 10 s, so that
// a flood cannot feed the audit log). Thread-safe.
#ifndef DX_GATEWAY_INTERNAL_IN_FLIGHT_H_
#define DX_GATEWAY_INTERNAL_IN_FLIGHT_H_

#include <atomic>
#include <cstdint>

namespace dx::gateway::internal {

class InFlightLimiter {
 public:
  explicit InFlightLimiter(uint32_t max) : max_(max) {}

  // Takes a place, or counts a refusal and returns false.
  bool TryTake() {
    const int64_t now = in_flight_.fetch_add(1) + 1;
    if (max_ == 0 || now <= max_) return true;
    in_flight_.fetch_sub(1);
    refusals_.fetch_add(1);
    return false;
  }
  void Release() { in_flight_.fetch_sub(1); }
  int64_t in_flight() const { return in_flight_.load(); }
  // Refusals since the last call.
  uint64_t TakeRefusals() { return refusals_.exchange(0); }

 private:
  const uint32_t max_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> refusals_{0};
};

// Holds one place for the life of a call.
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
