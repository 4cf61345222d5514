// RocksDbAuditLog: the audit log in the StateDb's "records" column family,
// keyed by big-endian sequence number. One writer thread takes every record
// queued since its last write and commits them in one WriteBatch with one
// fsync (group commit), then reports each record's receipt. Thread-safe.
#ifndef DX_AUDIT_ROCKSDB_AUDIT_LOG_H_
#define DX_AUDIT_ROCKSDB_AUDIT_LOG_H_

#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "audit/audit_log.h"
#include "audit/state_db.h"

namespace dx::audit {

class RocksDbAuditLog final : public AuditLog {
 public:
  struct Options {
    // Sync the WAL before reporting a record durable. Off only in benchmarks.
    bool sync = true;
    // Most records per write batch.
    size_t max_batch = 1024;
  };
  // `db` must outlive the log.
  static absl::StatusOr<std::unique_ptr<RocksDbAuditLog>> Create(
      StateDb* db, Options options);
  // Writes what is queued, then stops the writer.
  ~RocksDbAuditLog() override;

  void Append(v1::AuditRecord record, Callback done) override;
  absl::Status Health() const override;

  // The next sequence number to be assigned.
  uint64_t next_sequence() const;

  // Reads records [from, from + limit) (fewer at the end of the log).
  static absl::StatusOr<std::vector<std::pair<v1::AuditRecord, std::string>>>
  ReadRange(StateDb* db, uint64_t from, size_t limit);

 private:
  struct Pending {
    v1::AuditRecord record;
    Callback done;
  };
  RocksDbAuditLog(StateDb* db, Options options, uint64_t next)
      : db_(db), options_(options), next_sequence_(next) {}
  void WriterLoop();
  void WriteBatch(std::vector<Pending> batch);

  StateDb* const db_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_);
  absl::Status health_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_ROCKSDB_AUDIT_LOG_H_
