#include "policy/policy_authorizer.h"

#include <atomic>

#include "absl/strings/str_cat.h"

namespace dx::policy {

PolicyAuthorizer::PolicyAuthorizer(
    std::shared_ptr<const PolicySnapshot> initial, const Clock* clock)
    : snapshot_(std::move(initial)), clock_(clock) {}

void PolicyAuthorizer::Install(std::shared_ptr<const PolicySnapshot> s) {
  std::atomic_store(&snapshot_, std::move(s));
}

std::shared_ptr<const PolicySnapshot> PolicyAuthorizer::Current() const {
  return std::atomic_load(&snapshot_);
}

AccessDecision PolicyAuthorizer::Decide(const AccessRequest& request) const {
  const absl::Time now = clock_->Now();
  AccessDecision d = Current()->Decide(request, now);
  if (!d.allowed || d.quota_key.empty()) return d;
  QuotaTracker::Verdict q = quotas_.Admit(
      d.quota_key, d.quota_requests_per_minute, d.quota_records_per_day, now);
  if (!q.allowed) {
    d.allowed = false;
    d.code = absl::StatusCode::kResourceExhausted;
    d.reason = v1::REASON_QUOTA_EXCEEDED;
    d.message = absl::StrCat("grant ", d.rule_id, " for agency ",
                             request.consumer_agency, ": ", q.message);
    return d;
  }
  d.max_records = q.records_left;
  return d;
}

void PolicyAuthorizer::RecordsServed(const AccessDecision& d,
                                     uint64_t records) const {
  if (d.quota_key.empty() || d.quota_records_per_day == 0) return;
  quotas_.AddRecords(d.quota_key, records, clock_->Now());
}

}  // namespace dx::policy
