// LogBudget: at most `lines` log lines in each window of time (windows
// aligned on the clock, as the metrics count), for lines that a stranger
// can cause: a refused exchange, a failed TLS handshake, a malformed
// message. Past the budget lines are counted, not written, and the next
// line written says how many were left out, so a flood of bad input cannot
// flood the log and nothing goes unaccounted. Thread-safe.
#ifndef DX_COMMON_LOG_BUDGET_H_
#define DX_COMMON_LOG_BUDGET_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace dx {

class LogBudget final {
 public:
  // `clock` must outlive this; `lines` > 0, `window` > 0.
  LogBudget(const Clock* clock, int lines, absl::Duration window);

  // True when a line may be written now; `*suppressed_before` is then the
  // number of lines refused since the last one written. False (the line is
  // counted) when this window's budget is spent.
  bool Take(uint64_t* suppressed_before);

 private:
  const Clock* const clock_;
  const int lines_;
  const absl::Duration window_;
  absl::Mutex mu_;
  int64_t window_index_ ABSL_GUARDED_BY(mu_) = INT64_MIN;
  int written_in_window_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dx

#endif  // DX_COMMON_LOG_BUDGET_H_
