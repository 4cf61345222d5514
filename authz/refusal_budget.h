// RefusalBudget: how many of one address's refused console requests become
// audit records one by one. Anyone who reaches the console's port can make
// it refuse as fast as they can send; recording each refusal would let them
// fill the audit log (and its disk). So up to `per_minute` refusals of an
// address in a minute are recorded each; past that the address is answered
// 429 and its refusals are counted, and the count is recorded once, when
// its minute is over (seen at the next refusal of anyone) or when the
// console stops. Nothing is refused unseen: every refusal is in a record,
// alone or counted. Thread-safe.
#ifndef DX_CONSOLE_REFUSAL_BUDGET_H_
#define DX_CONSOLE_REFUSAL_BUDGET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace dx::console {

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

}  // namespace dx::console

#endif  // DX_CONSOLE_REFUSAL_BUDGET_H_
