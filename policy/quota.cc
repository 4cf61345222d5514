#include "policy/quota.h"

#include "absl/strings/str_cat.h"

namespace dx::policy {
namespace {

constexpr int64_t kVietnamOffsetSeconds = 7 * 3600;

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

void QuotaTracker::Roll(Counters* c, absl::Time now) {
  const int64_t seconds = absl::ToUnixSeconds(now);
  const int64_t minute = FloorDiv(seconds, 60);
  const int64_t day = FloorDiv(seconds + kVietnamOffsetSeconds, 86400);
  if (c->minute != minute) {
    c->minute = minute;
    c->requests = 0;
  }
  if (c->day != day) {
    c->day = day;
    c->records = 0;
  }
}

QuotaTracker::Verdict QuotaTracker::Admit(const std::string& key,
                                          uint32_t requests_per_minute,
                                          uint64_t records_per_day,
                                          absl::Time now) {
  Verdict v;
  absl::MutexLock lock(&mu_);
  Counters& c = counters_[key];
  Roll(&c, now);
  if (requests_per_minute != 0 && c.requests >= requests_per_minute) {
    const int64_t wait = (c.minute + 1) * 60 - absl::ToUnixSeconds(now);
    v.allowed = false;
    v.message =
        absl::StrCat("the quota of ", requests_per_minute,
                     " requests per minute is used up; retry in ", wait, " s");
    return v;
  }
  if (records_per_day != 0) {
    if (c.records >= records_per_day) {
      v.allowed = false;
      v.message = absl::StrCat(
          "the quota of ", records_per_day,
          " records per day is used up; it renews at midnight (UTC+7)");
      return v;
    }
    v.records_left = records_per_day - c.records;
  }
  ++c.requests;
  return v;
}

void QuotaTracker::AddRecords(const std::string& key, uint64_t records,
                              absl::Time now) {
  absl::MutexLock lock(&mu_);
  Counters& c = counters_[key];
  Roll(&c, now);
  c.records += records;
}

}  // namespace dx::policy
