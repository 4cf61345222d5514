// RocksDbAuditLog: the tamper-evident audit log in the StateDb.
//
// One writer thread takes every record queued since its last write and
// commits, in one WriteBatch with one fsync (group commit): the records, the
// Merkle tree nodes they complete (RFC 6962), and their index entries. Only
// then does it report each record's receipt. It signs a tree head every
// tree_head_interval or tree_head_every_records, and at shutdown.
//
// Before each batch it checks the free space of the data folder: below
// min_free_bytes it writes nothing, fails the batch, and Health() turns
// UNAVAILABLE until space is freed (checked every 250 ms). Keeping that
// margin means RocksDB itself never meets a full disk. If a write fails all
// the same (an I/O error), nothing of the batch is acknowledged and the log
// stops writing for good: RocksDB's WAL writer must not be reused after an
// error, so the gateway needs a restart, which recovers everything that was
// acknowledged.
//
// Receipts are handed to an executor (a pool of its own by default): the
// completions sign answers, which must neither wait behind the next group
// commit on the writer thread nor run under the log's lock. Thread-safe.
#ifndef DX_AUDIT_ROCKSDB_AUDIT_LOG_H_
#define DX_AUDIT_ROCKSDB_AUDIT_LOG_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "audit/merkle.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "common/clock.h"
#include "common/executor.h"

namespace dx::audit {

class RocksDbAuditLog final : public AuditLog {
 public:
  struct Options {
    // Sync the WAL before reporting a record durable. Off only in benchmarks.
    bool sync = true;
    // Most records per write batch.
    size_t max_batch = 1024;
    // Signs tree heads; none are made when null.
    const certs::Signer* tree_head_signer = nullptr;
    std::string node_id;
    absl::Duration tree_head_interval = absl::Seconds(1);
    uint64_t tree_head_every_records = 10000;
    const Clock* clock = SystemClock::Get();
    // Fail closed while the data folder has less free space than this.
    uint64_t min_free_bytes = uint64_t{256} << 20;
    // Free bytes where the log lives; default: statvfs of the database path.
    std::function<absl::StatusOr<uint64_t>()> free_bytes;
    // Where completions run; default: a pool of `completion_threads` owned
    // by the log (drained before it is destroyed); with 0 threads, on the
    // writer thread itself.
    Executor* completions = nullptr;
    int completion_threads = 2;
  };
  // `db` (and the signer) must outlive the log.
  static absl::StatusOr<std::unique_ptr<RocksDbAuditLog>> Create(
      StateDb* db, Options options);
  // Writes what is queued, signs a last tree head, then stops the writer.
  ~RocksDbAuditLog() override;

  void Append(v1::AuditRecord record, Callback done) override;
  absl::Status Health() const override;

  // The next sequence number to be assigned (= the tree size).
  uint64_t next_sequence() const;

 private:
  struct Pending {
    v1::AuditRecord record;
    Callback done;
  };
  RocksDbAuditLog(StateDb* db, Options options, CompactRange range);
  void WriterLoop();
  void WriteBatch(std::vector<Pending> batch);
  // Signs and stores a tree head if one is due (or `force` and the tree grew).
  void MaybeSignTreeHead(bool force);
  // OK when there is room to write; UNAVAILABLE (with the figures) when not.
  absl::Status CheckSpace();
  void SetHealth(absl::Status status);

  StateDb* const db_;
  const Options options_;
  std::unique_ptr<Executor> own_completions_;
  Executor* completions_;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_);
  absl::Status health_ ABSL_GUARDED_BY(mu_);

  // Writer thread only.
  CompactRange range_;
  uint64_t tree_head_size_ = 0;
  absl::Time tree_head_time_;
  // Set after a failed write: nothing is written any more (see above).
  bool broken_ = false;
  std::thread writer_;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_ROCKSDB_AUDIT_LOG_H_
