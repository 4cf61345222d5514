// Pruner: removes audit records older than a time, at any volume, and
// never silently. A prune is
//   1. an intent record (audit.prune-started: who, before when, the SHA-256
//      of the export that holds the records), and the intent kept in the
//      state database;
//   2. chunks of at most `chunk_records` records, each deleted with their
//      index entries in one synced batch that also moves the "pruned below"
//      mark, so a crash loses nothing that should stay and repeats nothing;
//   3. a result record (audit.prune: how many, the first kept), and the
//      intent removed.
// After a crash between 1 and 3, Resume() (run by the node in the
// background once it serves) finishes the prune and says so in its result
// record. The Merkle tree and the
// tree heads stay: the remaining records' proofs still verify. Memory is
// one chunk's batch, whatever the log's size. Thread-safe; one prune at a
// time.
#ifndef DX_AUDIT_PRUNER_H_
#define DX_AUDIT_PRUNER_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "audit/state_db.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

class Pruner {
 public:
  struct Options {
    uint64_t chunk_records = 10000;
    // Pause between chunks, leaving the disk to exchanges.
    absl::Duration pause = absl::ZeroDuration();
    // Tests: stop with ABORTED after this many chunks, leaving the state a
    // crash there would leave (0: never).
    uint64_t stop_after_chunks = 0;
  };
  // `db` and `log` outlive the pruner.
  Pruner(StateDb* db, AuditLog* log, Options options);

  // Prunes the records before `before` (a prefix of the log: records are
  // appended in time order).
  absl::StatusOr<v1::PruneResponse> Prune(const std::string& actor,
                                          absl::Time before,
                                          const std::string& export_sha256);
  // Finishes a prune a crash interrupted; OK and nothing done if none was.
  absl::StatusOr<v1::PruneResponse> Resume();

  // Makes a prune under way stop after its current chunk (the node is
  // stopping); it is finished by Resume() at the next start.
  void Stop() { stopping_.store(true); }

  // The first sequence number not pruned (0 before any prune).
  absl::StatusOr<uint64_t> PrunedBelow() const;

 private:
  absl::StatusOr<v1::PruneResponse> Run(const v1::PendingPrune& pending,
                                        bool resumed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  StateDb* const db_;
  AuditLog* const log_;
  const Options options_;
  absl::Mutex mu_;
  std::atomic<bool> stopping_{false};
};

}  // namespace dx::audit

#endif  // DX_AUDIT_PRUNER_H_
