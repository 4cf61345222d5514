// SubscriptionStates: where a node keeps its subscriptions' state durably
// (the acknowledged point and the batches delivered since), so that a
// subscription resumes from its last ack after a disconnect or a restart.
// Stored in the node's state database (audit::StateDb, meta column family,
// keys "subscription/<id>"): one RocksDB, one backup. Each Save is synced
// before it returns. Thread-safe (RocksDB is); callers serialise the
// read-modify-write of one subscription (SubscriptionService holds a lock).
#ifndef DX_GATEWAY_SUBSCRIPTION_STATE_H_
#define DX_GATEWAY_SUBSCRIPTION_STATE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "dx/v1/subscription.pb.h"

namespace dx::audit {
class StateDb;
}

namespace dx::gateway {

class SubscriptionStates {
 public:
  virtual ~SubscriptionStates() = default;
  // nullopt when there is no such subscription.
  virtual absl::StatusOr<absl::optional<v1::SubscriptionState>> Load(
      const std::string& id) const = 0;
  virtual absl::Status Save(const v1::SubscriptionState& state) = 0;
  // For good (an unsubscribe): a later Load finds nothing. Synced.
  virtual absl::Status Delete(const std::string& id) = 0;
  // Calls `visit` with each stored state, one at a time (memory stays
  // bounded however many there are), until it returns false. A state
  // saved or deleted meanwhile may or may not be seen: callers check again
  // under their lock. For the idle expiry's sweep.
  virtual absl::Status ForEach(
      const std::function<bool(const v1::SubscriptionState&)>& visit) const = 0;
};

// The RocksDB implementation over the node's state database (which must
// outlive it).
class RocksDbSubscriptionStates final : public SubscriptionStates {
 public:
  explicit RocksDbSubscriptionStates(audit::StateDb* db) : db_(db) {}
  absl::StatusOr<absl::optional<v1::SubscriptionState>> Load(
      const std::string& id) const override;
  absl::Status Save(const v1::SubscriptionState& state) override;
  absl::Status Delete(const std::string& id) override;
  absl::Status ForEach(const std::function<bool(const v1::SubscriptionState&)>&
                           visit) const override;

 private:
  audit::StateDb* const db_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_SUBSCRIPTION_STATE_H_
