#include "audit/rocksdb_audit_log.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"

namespace dx::audit {

std::string LeafHash(const std::string& record_bytes) {
  std::string leaf;
  leaf.reserve(record_bytes.size() + 1);
  leaf.push_back('\0');
  leaf.append(record_bytes);
  return certs::Sha256(leaf);
}

absl::StatusOr<std::unique_ptr<RocksDbAuditLog>> RocksDbAuditLog::Create(
    StateDb* db, Options options) {
  // The next sequence number follows the last stored record.
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->records()));
  it->SeekToLast();
  if (!it->status().ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the audit log: ", it->status().ToString()));
  }
  const uint64_t next =
      it->Valid() ? DecodeSequence(it->key().ToString()) + 1 : 0;
  std::unique_ptr<RocksDbAuditLog> log(new RocksDbAuditLog(db, options, next));
  log->writer_ = std::thread([p = log.get()] { p->WriterLoop(); });
  return log;
}

RocksDbAuditLog::~RocksDbAuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
}

void RocksDbAuditLog::Append(v1::AuditRecord record, Callback done) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    done(absl::UnavailableError("the audit log is closing"));
    return;
  }
  queue_.push_back(Pending{std::move(record), std::move(done)});
}

absl::Status RocksDbAuditLog::Health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

uint64_t RocksDbAuditLog::next_sequence() const {
  absl::MutexLock lock(&mu_);
  return next_sequence_;
}

void RocksDbAuditLog::WriterLoop() {
  for (;;) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](RocksDbAuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything is written
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    WriteBatch(std::move(batch));
  }
}

void RocksDbAuditLog::WriteBatch(std::vector<Pending> batch) {
  uint64_t first;
  {
    absl::MutexLock lock(&mu_);
    first = next_sequence_;
  }
  rocksdb::WriteBatch wb;
  std::vector<AppendResult> results(batch.size());
  std::string bytes;
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].record.set_sequence_number(first + i);
    bytes.clear();
    batch[i].record.SerializeToString(&bytes);
    results[i].sequence_number = first + i;
    results[i].record_hash = LeafHash(bytes);
    wb.Put(db_->records(), EncodeSequence(first + i), bytes);
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocksdb::Status s = db_->db()->Write(wo, &wb);
  if (!s.ok() && (s.IsIOError() || s.IsNoSpace())) {
    // After a background error RocksDB stays read-only until resumed, e.g.
    // once disk space is freed. Try once; the batch is retried below.
    if (db_->db()->Resume().ok()) s = db_->db()->Write(wo, &wb);
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      next_sequence_ = first + batch.size();
      health_ = absl::OkStatus();
    } else {
      health_ = absl::UnavailableError(absl::StrCat(
          "the audit log cannot write (", s.ToString(),
          "); exchanges are refused until it recovers; check disk space "
          "and the data_dir"));
      status = health_;
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (status.ok()) {
      batch[i].done(std::move(results[i]));
    } else {
      batch[i].done(status);
    }
  }
}

absl::StatusOr<std::vector<std::pair<v1::AuditRecord, std::string>>>
RocksDbAuditLog::ReadRange(StateDb* db, uint64_t from, size_t limit) {
  std::vector<std::pair<v1::AuditRecord, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->records()));
  for (it->Seek(EncodeSequence(from)); it->Valid() && out.size() < limit;
       it->Next()) {
    v1::AuditRecord record;
    std::string bytes = it->value().ToString();
    if (!record.ParseFromString(bytes)) {
      return absl::DataLossError(
          absl::StrCat("audit record ", DecodeSequence(it->key().ToString()),
                       " does not parse"));
    }
    out.emplace_back(std::move(record), LeafHash(bytes));
  }
  if (!it->status().ok()) {
    return absl::UnavailableError(it->status().ToString());
  }
  return out;
}

}  // namespace dx::audit
