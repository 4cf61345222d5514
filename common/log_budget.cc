#include "common/log_budget.h"

namespace dx {

LogBudget::LogBudget(const Clock* clock, int lines, absl::Duration window)
    : clock_(clock), lines_(lines), window_(window) {}

bool LogBudget::Take(uint64_t* suppressed_before) {
  absl::Duration unused;
  const int64_t index =
      absl::IDivDuration(clock_->Now() - absl::UnixEpoch(), window_, &unused);
  absl::MutexLock lock(&mu_);
  if (index != window_index_) {
    window_index_ = index;
    written_in_window_ = 0;
  }
  if (written_in_window_ >= lines_) {
    ++suppressed_;
    return false;
  }
  ++written_in_window_;
  *suppressed_before = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace dx
