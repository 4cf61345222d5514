#include "policy/quota_store.h"

#include <algorithm>

namespace dx::policy {
namespace {

constexpr int64_t kVietnamOffsetSeconds = 7 * 3600;

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

int64_t MinuteWindow(absl::Time t) {
  return FloorDiv(absl::ToUnixSeconds(t), 60);
}

int64_t VietnamDayWindow(absl::Time t) {
  return FloorDiv(absl::ToUnixSeconds(t) + kVietnamOffsetSeconds, 86400);
}

int64_t SecondsToNextMinute(absl::Time t) {
  return (MinuteWindow(t) + 1) * 60 - absl::ToUnixSeconds(t);
}

void LocalQuotaStore::Take(std::vector<QuotaTake> takes, Cancellation*,
                           TakeCallback done) {
  QuotaTakeResult result;
  {
    absl::MutexLock lock(&mu_);
    std::vector<uint64_t> available(takes.size());
    for (size_t i = 0; i < takes.size(); ++i) {
      const QuotaTake& t = takes[i];
      auto it = counters_.find(t.bucket.name);
      uint64_t used = 0;
      if (it != counters_.end() && it->second.window == t.bucket.window) {
        used = it->second.used;
      }
      available[i] = t.bucket.capacity > used ? t.bucket.capacity - used : 0;
      if (available[i] < t.min) {
        result.short_bucket = i;
        break;
      }
      if (i + 1 == takes.size()) result.granted = true;
    }
    if (takes.empty()) result.granted = true;
    if (result.granted) {
      result.taken.resize(takes.size());
      for (size_t i = 0; i < takes.size(); ++i) {
        Counter& c = counters_[takes[i].bucket.name];
        if (c.window != takes[i].bucket.window) c = {takes[i].bucket.window, 0};
        result.taken[i] = std::min(takes[i].max, available[i]);
        c.used += result.taken[i];
      }
    }
  }
  done(std::move(result));
}

void LocalQuotaStore::PutBack(const QuotaBucket& bucket, uint64_t tokens) {
  absl::MutexLock lock(&mu_);
  auto it = counters_.find(bucket.name);
  if (it == counters_.end() || it->second.window != bucket.window) return;
  it->second.used -= std::min(tokens, it->second.used);
}

QuotaCharge::~QuotaCharge() {
  if (taken_ > used_) store_->PutBack(bucket_, taken_ - used_);
}

void QuotaCharge::Use(uint64_t n) { used_ = std::min(taken_, used_ + n); }

}  // namespace dx::policy
