// Clock: the seam for every time-dependent check (freshness, certificate
// validity, replay windows), so tests set the time instead of sleeping.
#ifndef DX_COMMON_CLOCK_H_
#define DX_COMMON_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace dx {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system's real-time clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static const Clock* Get() {
    static const SystemClock* clock = new SystemClock();
    return clock;
  }
};

}  // namespace dx

#endif  // DX_COMMON_CLOCK_H_
