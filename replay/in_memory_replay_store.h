// InMemoryReplayStore: the embedded ReplayStore, and the cluster store's
// fast first check. Completes inline.
//
// Rebuilt from the audit log at every start (RebuildFromAuditLog): every
// request the gateway accepted has an audit record naming its id, nonce
// and expiry, synced before any answer left, so nothing a client was
// answered can be replayed after a restart or a crash. A request accepted
// but never answered (the process died first) may be sent again, which is
// what its client should do.
//
// Why not RocksDB (as before 2026-11-29): a soak run showed the guard's
// look-ups reading filter blocks from disk under its lock, on the two
// threads that run every exchange; the gateway fell behind within minutes.
//
// Keys are the first 16 bytes of SHA-256(kind, consumer, value): 24 bytes
// an entry with its expiry, about 60 bytes with the table's slack for the
// two keys of a request; memory grows with (accepted requests per second) x
// (max_request_lifetime + clock_skew) and no further. Entries are swept
// when they expire. Sharded so that concurrent exchanges rarely share a
// lock. Thread-safe.
#ifndef DX_REPLAY_IN_MEMORY_REPLAY_STORE_H_
#define DX_REPLAY_IN_MEMORY_REPLAY_STORE_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "audit/audit_reader.h"
#include "common/clock.h"
#include "replay/replay_store.h"

namespace dx::replay {

class InMemoryReplayStore final : public ReplayStore {
 public:
  explicit InMemoryReplayStore(const Clock* clock) : clock_(clock) {}

  void CheckAndRemember(const ReplayKey& key, Cancellation* cancel,
                        Callback done) override;
  size_t size() const override;

  // The same, returned at once.
  bool CheckAndRememberNow(const ReplayKey& key);
  // Forgets both keys (the cluster store could not confirm the request).
  void Forget(const ReplayKey& key);
  // Remembers both keys unconditionally (rebuilding from the audit log).
  void Remember(const ReplayKey& key);

 private:
  static constexpr int kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<absl::uint128, int64_t> expiry_micros
        ABSL_GUARDED_BY(mu);
    int64_t next_sweep_micros ABSL_GUARDED_BY(mu) = 0;
  };
  static absl::uint128 Key(char kind, const std::string& consumer,
                           const std::string& value);
  static Shard& ShardOf(std::array<Shard, kShards>& shards, absl::uint128 key);
  // Drops expired entries, at most once a second per shard.
  static void MaybeSweep(Shard& shard, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const Clock* const clock_;
  std::array<Shard, kShards> shards_;
};

// Re-remembers the request ids and nonces of every exchange in the audit log
// whose request has not expired; returns how many.
absl::StatusOr<uint64_t> RebuildFromAuditLog(const audit::AuditReader& log,
                                             InMemoryReplayStore* store,
                                             absl::Time now,
                                             absl::Duration window);

}  // namespace dx::replay

#endif  // DX_REPLAY_IN_MEMORY_REPLAY_STORE_H_
