#include "authz/refusal_budget.h"

#include <limits>
#include <utility>

namespace dx::authz {
namespace {

int64_t MinuteOf(absl::Time t) { return absl::ToUnixSeconds(t) / 60; }

}  // namespace

RefusalBudget::RefusalBudget(const Clock* clock, int per_minute,
                             size_t max_addresses)
    : clock_(clock), per_minute_(per_minute), max_addresses_(max_addresses) {}

void RefusalBudget::Sweep(int64_t minute, std::vector<Count>* due) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (it->second.minute >= minute) {
      ++it;
      continue;
    }
    if (it->second.counted.refusals > 0) {
      due->push_back(std::move(it->second.counted));
    }
    windows_.erase(it++);
  }
  last_sweep_ = minute;
}

RefusalBudget::Verdict RefusalBudget::Take(const std::string& address) {
  const absl::Time now = clock_->Now();
  const int64_t minute = MinuteOf(now);
  Verdict v;
  v.window_end = absl::FromUnixSeconds((minute + 1) * 60);
  absl::MutexLock lock(&mu_);
  // Once a minute, or when too many addresses are held: what is over.
  if (minute != last_sweep_ || windows_.size() >= max_addresses_) {
    Sweep(minute, &v.due);
  }
  // Still full of this minute's addresses: the newcomers share one window
  // (named for what they are), so memory stays bounded.
  const std::string key =
      windows_.size() >= max_addresses_ && !windows_.contains(address)
          ? std::string("(other addresses)")
          : address;
  Window& w = windows_[key];
  if (w.minute != minute) {  // a window left from before the last sweep
    if (w.counted.refusals > 0) v.due.push_back(std::move(w.counted));
    w = Window{};
    w.minute = minute;
  }
  if (w.recorded < per_minute_) {
    ++w.recorded;
    return v;
  }
  v.record = false;
  v.first_over = w.counted.refusals == 0;
  if (v.first_over) {
    w.counted.address = key;
    w.counted.from = now;
  }
  ++w.counted.refusals;
  w.counted.to = now;
  return v;
}

std::vector<RefusalBudget::Count> RefusalBudget::TakeDue() {
  const int64_t minute = MinuteOf(clock_->Now());
  absl::MutexLock lock(&mu_);
  std::vector<Count> due;
  Sweep(minute, &due);
  return due;
}

std::vector<RefusalBudget::Count> RefusalBudget::Drain() {
  absl::MutexLock lock(&mu_);
  std::vector<Count> due;
  Sweep(std::numeric_limits<int64_t>::max(), &due);
  return due;
}

}  // namespace dx::authz
