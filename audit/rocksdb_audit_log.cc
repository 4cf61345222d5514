#include "audit/rocksdb_audit_log.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "audit/audit_reader.h"
#include "audit/keys.h"
#include "audit/slice.h"
#include "audit/tree_head.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace dx::audit {
namespace {

// How often an unhealthy log probes the disk, and how long an idle writer
// sleeps between tree-head checks.
constexpr absl::Duration kProbeInterval = absl::Milliseconds(250);

}  // namespace

RocksDbAuditLog::RocksDbAuditLog(StateDb* db, Options options,
                                 CompactRange range)
    : db_(db),
      options_(std::move(options)),
      own_completions_(
          options_.completions != nullptr ? nullptr
          : options_.completion_threads > 0
              ? std::unique_ptr<Executor>(std::make_unique<ThreadPoolExecutor>(
                    options_.completion_threads))
              : std::make_unique<InlineExecutor>()),
      completions_(options_.completions != nullptr ? options_.completions
                                                   : own_completions_.get()),
      next_sequence_(range.size()),
      range_(std::move(range)),
      tree_head_size_(range_.size()),
      tree_head_time_(options_.clock->Now()) {}

absl::StatusOr<std::unique_ptr<RocksDbAuditLog>> RocksDbAuditLog::Create(
    StateDb* db, Options options) {
  if (!options.free_bytes) {
    options.free_bytes = [path = db->path()]() -> absl::StatusOr<uint64_t> {
      struct statvfs st;
      if (statvfs(path.c_str(), &st) != 0) {
        return absl::UnavailableError(
            absl::StrCat("cannot read the free space of ", path));
      }
      return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    };
  }
  AuditReader reader(db);
  DX_ASSIGN_OR_RETURN(uint64_t size, reader.TreeSize());
  DX_ASSIGN_OR_RETURN(CompactRange range,
                      CompactRange::FromSource(reader.Source(), size));
  std::unique_ptr<RocksDbAuditLog> log(
      new RocksDbAuditLog(db, std::move(options), std::move(range)));
  // The latest tree head; the writer signs one for what follows it.
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->cf(Cf::kTreeHeads)));
  it->SeekToLast();
  const uint64_t signed_size =
      it->Valid() ? DecodeBigEndian64(View(it->key())) : 0;
  log->tree_head_size_ = signed_size;
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
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(record), std::move(done)});
      return;
    }
  }
  // Never under the lock, never on the caller's thread.
  completions_->Run([done = std::move(done)] {
    done(absl::UnavailableError("the audit log is closing"));
  });
}

absl::Status RocksDbAuditLog::Health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

uint64_t RocksDbAuditLog::next_sequence() const {
  absl::MutexLock lock(&mu_);
  return next_sequence_;
}

void RocksDbAuditLog::SetHealth(absl::Status status) {
  absl::MutexLock lock(&mu_);
  health_ = std::move(status);
}

void RocksDbAuditLog::WriterLoop() {
  for (;;) {
    std::vector<Pending> batch;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](RocksDbAuditLog* self)
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                     return self->stopping_ || !self->queue_.empty();
                   },
              this),
          std::min(kProbeInterval, options_.tree_head_interval));
      stopping = stopping_;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      WriteBatch(std::move(batch));
    } else if (stopping) {
      MaybeSignTreeHead(/*force=*/true);
      return;
    } else if (!broken_ && !Health().ok() && CheckSpace().ok()) {
      SetHealth(absl::OkStatus());  // space was freed
    }
    MaybeSignTreeHead(/*force=*/false);
  }
}

void RocksDbAuditLog::WriteBatch(std::vector<Pending> batch) {
  absl::Status refused;
  if (broken_) {
    refused = Health();
  } else if (absl::Status space = CheckSpace(); !space.ok()) {
    refused = space;
    SetHealth(space);
  }
  if (!refused.ok()) {
    for (auto& p : batch) {
      completions_->Run([done = std::move(p.done), refused] { done(refused); });
    }
    return;
  }
  const CompactRange before = range_;  // restored if the write fails
  const uint64_t first = range_.size();
  rocksdb::WriteBatch wb;
  std::vector<AppendResult> results(batch.size());
  std::string bytes;
  const int64_t now = absl::ToUnixMicros(options_.clock->Now());
  for (size_t i = 0; i < batch.size(); ++i) {
    v1::AuditRecord& record = batch[i].record;
    const uint64_t seq = first + i;
    record.set_sequence_number(seq);
    if (record.time_unix_micros() == 0) record.set_time_unix_micros(now);
    if (record.node_id().empty()) record.set_node_id(options_.node_id);
    bytes.clear();
    record.SerializeToString(&bytes);
    results[i].sequence_number = seq;
    results[i].record_hash = HashLeaf(bytes);
    wb.Put(db_->records(), EncodeBigEndian64(seq), bytes);
    range_.Append(results[i].record_hash,
                  [&](int level, uint64_t index, const std::string& hash) {
                    wb.Put(db_->cf(Cf::kTree), TreeNodeKey(level, index), hash);
                  });
    for (const auto& [cf, key] : IndexEntries(record, seq)) {
      wb.Put(db_->cf(cf), key, rocksdb::Slice());
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocksdb::Status s = db_->db()->Write(wo, &wb);
  absl::Status status;
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    next_sequence_ = range_.size();
    health_ = absl::OkStatus();
  } else {
    range_ = before;
    broken_ = true;
    status = absl::UnavailableError(absl::StrCat(
        "the audit log failed to write (", s.ToString(),
        ") and stopped writing to protect its integrity; exchanges are "
        "refused; fix the cause (disk, data_dir) and restart dxgate, which "
        "recovers every acknowledged record"));
    SetHealth(status);
    LogEvent("audit", "error", status.message());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (status.ok()) {
      completions_->Run([done = std::move(batch[i].done),
                         result = std::move(results[i])]() mutable {
        done(std::move(result));
      });
    } else {
      completions_->Run(
          [done = std::move(batch[i].done), status] { done(status); });
    }
  }
}

absl::Status RocksDbAuditLog::CheckSpace() {
  absl::StatusOr<uint64_t> free = options_.free_bytes();
  if (!free.ok()) return free.status();
  if (*free >= options_.min_free_bytes) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("the disk of the audit log is almost full (", *free >> 20,
                   " MiB free, at least ", options_.min_free_bytes >> 20,
                   " MiB needed); exchanges are refused until space is freed"));
}

void RocksDbAuditLog::MaybeSignTreeHead(bool force) {
  if (options_.tree_head_signer == nullptr) return;
  const uint64_t size = range_.size();
  if (size == tree_head_size_) return;
  const absl::Time now = options_.clock->Now();
  if (!force && size - tree_head_size_ < options_.tree_head_every_records &&
      now - tree_head_time_ < options_.tree_head_interval) {
    return;
  }
  auto sth = SignTreeHead(*options_.tree_head_signer, options_.node_id, size,
                          static_cast<uint64_t>(absl::ToUnixMillis(now)),
                          range_.Root());
  if (!sth.ok()) {
    LogEvent("audit", "error",
             absl::StrCat("cannot sign a tree head: ", sth.status().message()));
    return;
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocksdb::Status s =
      db_->db()->Put(wo, db_->cf(Cf::kTreeHeads), EncodeBigEndian64(size),
                     sth->SerializeAsString());
  if (s.ok()) {
    tree_head_size_ = size;
    tree_head_time_ = now;
  }
}

}  // namespace dx::audit
