#include "audit/pruner.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "audit/admin.h"
#include "audit/keys.h"
#include "audit/slice.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace dx::audit {
namespace {

constexpr char kPendingKey[] = "prune/pending";
constexpr char kBelowKey[] = "prune/below";

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

rocksdb::WriteOptions Synced() {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return wo;
}

}  // namespace

Pruner::Pruner(StateDb* db, AuditLog* log, Options options)
    : db_(db), log_(log), options_(options) {}

absl::StatusOr<uint64_t> Pruner::PrunedBelow() const {
  std::string value;
  rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), db_->cf(Cf::kMeta),
                                     kBelowKey, &value);
  if (s.IsNotFound()) return 0;
  DX_RETURN_IF_ERROR(FromRocks(s, "reading the prune mark"));
  if (value.size() != 8) return absl::DataLossError("bad prune mark");
  return DecodeBigEndian64(value);
}

absl::StatusOr<v1::PruneResponse> Pruner::Prune(
    const std::string& actor, absl::Time before,
    const std::string& export_sha256) {
  absl::MutexLock lock(&mu_);
  std::string existing;
  if (db_->db()
          ->Get(rocksdb::ReadOptions(), db_->cf(Cf::kMeta), kPendingKey,
                &existing)
          .ok()) {
    return absl::FailedPreconditionError(
        "another prune is under way (or was interrupted: it finishes when "
        "the node starts)");
  }
  v1::PendingPrune pending;
  pending.set_before_unix_micros(absl::ToUnixMicros(before));
  pending.set_export_sha256(export_sha256);
  pending.set_actor(actor);
  // The intent is on the record before anything is deleted.
  DX_ASSIGN_OR_RETURN(
      AppendResult intent,
      AppendAndWait(log_, AdminRecord(actor, "audit.prune-started",
                                      absl::StrCat("records before ",
                                                   absl::FormatTime(before),
                                                   "; export sha256 ",
                                                   HexEncode(export_sha256)))));
  pending.set_intent_sequence(intent.sequence_number);
  DX_RETURN_IF_ERROR(
      FromRocks(db_->db()->Put(Synced(), db_->cf(Cf::kMeta), kPendingKey,
                               pending.SerializeAsString()),
                "recording the prune's intent"));
  LogEvent("audit", "info",
           absl::StrCat("prune started by ", actor, ": records before ",
                        absl::FormatTime(before), " (intent record ",
                        intent.sequence_number, ")"));
  return Run(pending, /*resumed=*/false);
}

absl::StatusOr<v1::PruneResponse> Pruner::Resume() {
  absl::MutexLock lock(&mu_);
  std::string value;
  rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), db_->cf(Cf::kMeta),
                                     kPendingKey, &value);
  if (s.IsNotFound()) return v1::PruneResponse();
  DX_RETURN_IF_ERROR(FromRocks(s, "reading a pending prune"));
  v1::PendingPrune pending;
  if (!pending.ParseFromString(value)) {
    return absl::DataLossError("a pending prune does not parse");
  }
  LogEvent("audit", "warning",
           absl::StrCat("finishing the prune interrupted by a stop (intent "
                        "record ",
                        pending.intent_sequence(), ")"));
  return Run(pending, /*resumed=*/true);
}

absl::StatusOr<v1::PruneResponse> Pruner::Run(const v1::PendingPrune& pending,
                                              bool resumed) {
  DX_ASSIGN_OR_RETURN(uint64_t next, PrunedBelow());
  const uint64_t started_at = next;
  uint64_t pruned = 0, chunks = 0;
  bool done = false;
  while (!done) {
    rocksdb::WriteBatch wb;
    uint64_t in_chunk = 0;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(rocksdb::ReadOptions(), db_->records()));
    for (it->Seek(EncodeBigEndian64(next));; it->Next()) {
      if (!it->Valid()) {
        DX_RETURN_IF_ERROR(FromRocks(it->status(), "reading records"));
        done = true;  // the log's end
        break;
      }
      const uint64_t seq = DecodeBigEndian64(View(it->key()));
      v1::AuditRecord rec;
      if (!rec.ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size()))) {
        return absl::DataLossError(
            absl::StrCat("record ", seq,
                         " does not parse; nothing after it "
                         "is pruned"));
      }
      // Its own intent record, and anything younger, stay.
      if (rec.time_unix_micros() >= pending.before_unix_micros() ||
          seq >= pending.intent_sequence()) {
        next = seq;
        done = true;
        break;
      }
      if (in_chunk == options_.chunk_records) {
        next = seq;
        break;
      }
      wb.Delete(db_->records(), it->key());
      for (const auto& [cf, key] : IndexEntries(rec, seq)) {
        wb.Delete(db_->cf(cf), key);
      }
      ++in_chunk;
      next = seq + 1;
    }
    it.reset();
    if (in_chunk == 0) break;
    // The deletions and the mark in one synced batch: a crash keeps both
    // or neither.
    wb.Put(db_->cf(Cf::kMeta), kBelowKey, EncodeBigEndian64(next));
    DX_RETURN_IF_ERROR(
        FromRocks(db_->db()->Write(Synced(), &wb), "pruning a chunk"));
    pruned += in_chunk;
    if (options_.stop_after_chunks != 0 &&
        ++chunks == options_.stop_after_chunks) {
      return absl::AbortedError("stopped for a test, as a crash would");
    }
    if (!done && stopping_.load()) {
      return absl::UnavailableError(
          "the node is stopping; the prune finishes when it starts again");
    }
    if (!done && options_.pause > absl::ZeroDuration()) {
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(options_.pause));
    }
  }
  v1::PruneResponse out;
  out.set_pruned_records(pruned);
  out.set_first_kept_sequence(next);
  out.set_resumed(resumed);
  // The result, then the intent is gone. A crash between them would run
  // the prune again at the next start, finding nothing left to delete.
  DX_RETURN_IF_ERROR(
      AppendAndWait(
          log_, AdminRecord(
                    pending.actor(), "audit.prune",
                    absl::StrCat(resumed ? "finished after a restart: " : "",
                                 "pruned ", pruned, " records (", started_at,
                                 " to ", next, ") before ",
                                 absl::FormatTime(absl::FromUnixMicros(
                                     pending.before_unix_micros())),
                                 "; first kept ", next, "; intent record ",
                                 pending.intent_sequence(), "; export sha256 ",
                                 HexEncode(pending.export_sha256()))))
          .status());
  DX_RETURN_IF_ERROR(
      FromRocks(db_->db()->Delete(Synced(), db_->cf(Cf::kMeta), kPendingKey),
                "clearing the prune's intent"));
  return out;
}

}  // namespace dx::audit
