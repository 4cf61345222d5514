// ReplayGuard: remembers (consumer, request id) and (consumer, nonce) until
// the request's expiry so neither is accepted twice, also across restarts.
#ifndef DX_GATEWAY_REPLAY_GUARD_H_
#define DX_GATEWAY_REPLAY_GUARD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "audit/audit_reader.h"
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

// Stored in the "replay" column family of a RocksDB of its own, written
// without sync. Its own database, because a write to the audit log's
// database would queue behind the audit log's fsync and block the exchange
// threads for as long (measured: closed-loop throughput fell by a third).
// Unsynced is enough: a killed process loses nothing (the write reached the
// OS), and after a machine crash RebuildFromAuditLog restores every entry
// from the audit records, which are synced before any answer leaves.
// Thread-safe.
class RocksDbReplayGuard final : public ReplayGuard {
 public:
  explicit RocksDbReplayGuard(audit::StateDb* db, const Clock* clock)
      : db_(db), clock_(clock) {}
  absl::StatusOr<bool> CheckAndRemember(const std::string& consumer,
                                        const std::string& request_id,
                                        const std::string& nonce,
                                        absl::Time expires_at) override;
  // Remembers both keys unconditionally (rebuilding from the audit log).
  absl::Status Remember(const std::string& consumer,
                        const std::string& request_id, const std::string& nonce,
                        absl::Time expires_at);

 private:
  audit::StateDb* const db_;
  const Clock* const clock_;
  absl::Mutex mu_;  // makes check-then-remember atomic
};

// Re-remembers the request ids and nonces of every exchange in the audit log
// whose request has not expired; returns how many.
absl::StatusOr<uint64_t> RebuildFromAuditLog(const audit::AuditReader& log,
                                             RocksDbReplayGuard* guard,
                                             absl::Time now,
                                             absl::Duration window);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REPLAY_GUARD_H_
