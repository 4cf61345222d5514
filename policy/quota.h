// QuotaTracker: counts requests per minute and records per day for each
// (dataset, grant, consumer) that has a quota. Fixed windows: the clock's
// minute, and the calendar day in Vietnam (UTC+7). Counters live in memory:
// a restart starts them afresh, and each gateway node counts its own
// traffic (docs/POLICY.md). Thread-safe.
#ifndef DX_POLICY_QUOTA_H_
#define DX_POLICY_QUOTA_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dx::policy {

class QuotaTracker {
 public:
  struct Verdict {
    bool allowed = true;
    // Why not, when refused.
    std::string message;
    // Records left today (0: no daily limit).
    uint64_t records_left = 0;
  };

  // Counts one request against the limits (0 = none) when it fits.
  Verdict Admit(const std::string& key, uint32_t requests_per_minute,
                uint64_t records_per_day, absl::Time now);
  // Adds records served today.
  void AddRecords(const std::string& key, uint64_t records, absl::Time now);

 private:
  struct Counters {
    int64_t minute = 0;
    uint32_t requests = 0;
    int64_t day = 0;
    uint64_t records = 0;
  };
  static void Roll(Counters* c, absl::Time now);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Counters> counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::policy

#endif  // DX_POLICY_QUOTA_H_
