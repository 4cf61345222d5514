// PolicyAuthorizer: the Authorizer the gateway uses. Decides with the
// current PolicySnapshot (which holds the registry it was compiled
// against) and charges quotas in the QuotaStore. Install() swaps in a new
// snapshot atomically: decisions in flight finish on the snapshot they
// started with (they hold a reference), new ones use the new one.
// Thread-safe.
#ifndef DX_POLICY_POLICY_AUTHORIZER_H_
#define DX_POLICY_POLICY_AUTHORIZER_H_

#include <memory>

#include "common/clock.h"
#include "policy/decision.h"
#include "policy/quota_store.h"
#include "policy/snapshot.h"

namespace dx::policy {

// The counters of a decision's daily records quota (quota_records_per_day
// not 0), in the window of `now`: what an exchange's records and a
// subscription's events are charged to.
QuotaBucket DailyRecordsBucket(const AccessDecision& d, absl::Time now);

class PolicyAuthorizer final : public Authorizer {
 public:
  // `quotas` and `clock` must outlive this object.
  PolicyAuthorizer(std::shared_ptr<const PolicySnapshot> initial,
                   QuotaStore* quotas, const Clock* clock);

  void Install(std::shared_ptr<const PolicySnapshot> snapshot);
  std::shared_ptr<const PolicySnapshot> Current() const;

  void Decide(const AccessRequest& request, Cancellation* cancel,
              Callback done) const override;

 private:
  std::shared_ptr<const PolicySnapshot> snapshot_;  // atomic_load/store only
  QuotaStore* const quotas_;
  const Clock* const clock_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_AUTHORIZER_H_
