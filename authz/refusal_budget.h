// RefusalBudget: the one flood policy for refused administrative requests
// (the console's per address, the gRPC gate's per caller): how many of one
// key's refusals become audit records one by one. Anyone who reaches a port
// can make it refuse as fast as they can send; recording each refusal would
// let them fill the audit log (and its disk). So up to `per_minute`
// refusals of a key in a minute are recorded each; past that its refusals
// are counted (the console answers 429; the gate refuses as before), and
// the count is recorded once, when its minute is over (seen at the next
// refusal of anyone, or at TakeDue()) or at Drain(). Nothing is refused
// unseen: every refusal is in a record, alone or counted. Memory is bounded
// by `max_addresses` keys. Thread-safe.
#ifndef DX_AUTHZ_REFUSAL_BUDGET_H_
#define DX_AUTHZ_REFUSAL_BUDGET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace dx::authz {

class RefusalBudget {
 public:
  // Refusals of one address counted in one minute, not recorded one by one.
  struct Count {
    std::string address;
    uint64_t refusals = 0;
    absl::Time from;  // the first counted one
    absl::Time to;    // the last
  };
  struct Verdict {
    // Record this refusal as usual; when false, answer 429.
    bool record = true;
    // This refusal is the first over the budget: say so in a record now.
    bool first_over = false;
    // When the address's minute ends (for Retry-After).
    absl::Time window_end;
    // Counts whose minute is over: record each.
    std::vector<Count> due;
  };

  RefusalBudget(const Clock* clock, int per_minute, size_t max_addresses);

  Verdict Take(const std::string& address);
  // The counts whose minute is over, without a refusal to take (a
  // housekeeping task calls it, so that a flood that stops is still
  // recorded within a minute or so).
  std::vector<Count> TakeDue();
  // Every count not yet recorded, over or not (the console stops).
  std::vector<Count> Drain();

 private:
  struct Window {
    int64_t minute = 0;
    int recorded = 0;
    Count counted;
  };
  // Moves the counts of windows before `minute` to `due` and forgets those
  // windows.
  void Sweep(int64_t minute, std::vector<Count>* due)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const int per_minute_;
  const size_t max_addresses_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
  int64_t last_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dx::authz

#endif  // DX_AUTHZ_REFUSAL_BUDGET_H_
