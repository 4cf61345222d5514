#include "witness/rocksdb_store.h"

#include <rocksdb/db.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "audit/state_db.h"

namespace dx::witness {
namespace {

constexpr absl::string_view kPrefix = "witness/latest/";

}  // namespace

absl::StatusOr<WitnessedCheckpoints> RocksDbWitnessStore::LoadAll() const {
  WitnessedCheckpoints out;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(
      rocksdb::ReadOptions(), db_->cf(audit::Cf::kMeta)));
  for (it->Seek(rocksdb::Slice(kPrefix.data(), kPrefix.size())); it->Valid();
       it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, kPrefix)) break;
    auto checkpoint = DecodeWitnessedCheckpoint(
        absl::string_view(it->value().data(), it->value().size()));
    if (!checkpoint.ok()) return checkpoint.status();
    out[std::string(key.substr(kPrefix.size()))] = *std::move(checkpoint);
  }
  if (!it->status().ok()) {
    return absl::UnavailableError(absl::StrCat(
        "reading the witness's checkpoints: ", it->status().ToString()));
  }
  return out;
}

absl::Status RocksDbWitnessStore::Save(absl::string_view origin,
                                       const WitnessedCheckpoint& checkpoint) {
  rocksdb::WriteOptions synced;
  synced.sync = true;  // a cosignature is only as good as the state behind it
  const rocksdb::Status s = db_->db()->Put(
      synced, db_->cf(audit::Cf::kMeta), absl::StrCat(kPrefix, origin),
      EncodeWitnessedCheckpoint(checkpoint));
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("saving the checkpoint of '",
                                               origin, "': ", s.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace dx::witness
