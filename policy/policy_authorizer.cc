#include "policy/policy_authorizer.h"

#include <atomic>

#include "absl/strings/str_cat.h"

namespace dx::policy {
namespace {

void RefuseForQuota(AccessDecision* d, absl::StatusCode code,
                    v1::ReasonCode reason, std::string message) {
  d->allowed = false;
  d->code = code;
  d->reason = reason;
  d->message = std::move(message);
  d->max_records = 0;
  d->records_charge.reset();
}

}  // namespace

PolicyAuthorizer::PolicyAuthorizer(
    std::shared_ptr<const PolicySnapshot> initial, QuotaStore* quotas,
    const Clock* clock)
    : snapshot_(std::move(initial)), quotas_(quotas), clock_(clock) {}

void PolicyAuthorizer::Install(std::shared_ptr<const PolicySnapshot> s) {
  std::atomic_store(&snapshot_, std::move(s));
}

std::shared_ptr<const PolicySnapshot> PolicyAuthorizer::Current() const {
  return std::atomic_load(&snapshot_);
}

QuotaBucket DailyRecordsBucket(const AccessDecision& d, absl::Time now) {
  return {d.quota_key + "/rpd", VietnamDayWindow(now), d.quota_records_per_day};
}

void PolicyAuthorizer::Decide(const AccessRequest& request,
                              Cancellation* cancel, Callback done) const {
  const absl::Time now = clock_->Now();
  AccessDecision d = Current()->Decide(request, now);
  if (!d.allowed || d.quota_key.empty() || !request.charge_quota) {
    done(std::move(d));
    return;
  }
  // The request counts against the minute; the records against the day,
  // as many as this call could return, the rest given back afterwards.
  std::vector<QuotaTake> takes;
  int records_take = -1;
  if (d.quota_requests_per_minute != 0) {
    takes.push_back(
        {{d.quota_key + "/rpm", MinuteWindow(now), d.quota_requests_per_minute},
         1,
         1});
  }
  if (d.quota_records_per_day != 0) {
    records_take = static_cast<int>(takes.size());
    const uint64_t want = request.max_records != 0 ? request.max_records
                                                   : d.quota_records_per_day;
    takes.push_back({DailyRecordsBucket(d, now), 1, want});
  }
  const std::vector<QuotaTake> asked = takes;
  quotas_->Take(
      std::move(takes), cancel,
      [this, d = std::move(d), asked, records_take, now,
       consumer = request.consumer_agency,
       done = std::move(done)](absl::StatusOr<QuotaTakeResult> r) mutable {
        if (!r.ok()) {
          RefuseForQuota(
              &d, absl::StatusCode::kUnavailable,
              v1::REASON_QUOTA_STORE_UNAVAILABLE,
              absl::StrCat("the quota counters of grant ", d.rule_id,
                           " cannot be reached, so nothing is served; retry "
                           "later (",
                           r.status().message(), ")"));
        } else if (!r->granted) {
          const bool minute = static_cast<int>(r->short_bucket) != records_take;
          RefuseForQuota(
              &d, absl::StatusCode::kResourceExhausted,
              v1::REASON_QUOTA_EXCEEDED,
              absl::StrCat(
                  "grant ", d.rule_id, " for agency ", consumer, ": ",
                  minute
                      ? absl::StrCat("the quota of ",
                                     d.quota_requests_per_minute,
                                     " requests per minute is used up; "
                                     "retry in ",
                                     SecondsToNextMinute(now), " s")
                      : absl::StrCat("the quota of ", d.quota_records_per_day,
                                     " records per day is used up; it "
                                     "renews at midnight (UTC+7)")));
        } else if (records_take >= 0) {
          const uint64_t taken = r->taken[records_take];
          d.max_records = taken;
          d.records_charge = std::make_shared<QuotaCharge>(
              quotas_, asked[records_take].bucket, taken);
        }
        done(std::move(d));
      });
}

}  // namespace dx::policy
