// PolicyAuthorizer: the Authorizer the gateway uses. Decides with the
// current PolicySnapshot and enforces quotas. Install() swaps in a new
// snapshot atomically: decisions in flight finish on the snapshot they
// started with (they hold a reference), new ones use the new one.
// Thread-safe.
#ifndef DX_POLICY_POLICY_AUTHORIZER_H_
#define DX_POLICY_POLICY_AUTHORIZER_H_

#include <memory>

#include "common/clock.h"
#include "policy/decision.h"
#include "policy/quota.h"
#include "policy/snapshot.h"

namespace dx::policy {

class PolicyAuthorizer final : public Authorizer {
 public:
  // `clock` must outlive this object.
  PolicyAuthorizer(std::shared_ptr<const PolicySnapshot> initial,
                   const Clock* clock);

  void Install(std::shared_ptr<const PolicySnapshot> snapshot);
  std::shared_ptr<const PolicySnapshot> Current() const;

  AccessDecision Decide(const AccessRequest& request) const override;
  void RecordsServed(const AccessDecision& decision,
                     uint64_t records) const override;

 private:
  std::shared_ptr<const PolicySnapshot> snapshot_;  // atomic_load/store only
  const Clock* const clock_;
  mutable QuotaTracker quotas_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_AUTHORIZER_H_
