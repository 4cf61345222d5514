// ReplayGuard: remembers (consumer, request id) and (consumer, nonce) until
// the request's expiry so neither is accepted twice, also across restarts.
#ifndef DX_GATEWAY_REPLAY_GUARD_H_
#define DX_GATEWAY_REPLAY_GUARD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "audit/state_db.h"

namespace dx::gateway {

class ReplayGuard {
 public:
  virtual ~ReplayGuard() = default;
  // Returns true and remembers both keys until `expires_at` if neither was
  // seen before; false if either was (a replay). UNAVAILABLE on storage
  // errors (the caller must refuse the request).
  virtual absl::StatusOr<bool> CheckAndRemember(const std::string& consumer,
                                                const std::string& request_id,
                                                const std::string& nonce,
                                                absl::Time expires_at) = 0;
};

// Stored in the StateDb's "replay" column family. Its writes are not synced
// themselves: they share the WAL with the audit log, and the audit record of
// the same request is synced before any answer leaves. Thread-safe.
class RocksDbReplayGuard final : public ReplayGuard {
 public:
  explicit RocksDbReplayGuard(audit::StateDb* db, const Clock* clock)
      : db_(db), clock_(clock) {}
  absl::StatusOr<bool> CheckAndRemember(const std::string& consumer,
                                        const std::string& request_id,
                                        const std::string& nonce,
                                        absl::Time expires_at) override;

 private:
  audit::StateDb* const db_;
  const Clock* const clock_;
  absl::Mutex mu_;  // makes check-then-remember atomic
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REPLAY_GUARD_H_
