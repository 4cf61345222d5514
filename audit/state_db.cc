#include "audit/state_db.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace dx::audit {
namespace {

// Replay entries hold their expiry (microseconds, 8 bytes big-endian); once
// expired, freshness checks refuse the request anyway, so they can go.
class ExpiredReplayFilter final : public rocksdb::CompactionFilter {
 public:
  explicit ExpiredReplayFilter(const Clock* clock) : clock_(clock) {}
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value,
              std::string*, bool*) const override {
    if (value.size() != 8) return false;
    const uint64_t expiry = DecodeSequence(value.ToString());
    return static_cast<int64_t>(expiry) < absl::ToUnixMicros(clock_->Now());
  }
  const char* Name() const override { return "dx.ExpiredReplayFilter"; }

 private:
  const Clock* clock_;
};

}  // namespace

struct StateDb::Filters {
  explicit Filters(const Clock* clock) : replay(clock) {}
  ExpiredReplayFilter replay;
};

std::string EncodeSequence(uint64_t seq) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return out;
}

uint64_t DecodeSequence(const std::string& key) {
  uint64_t seq = 0;
  for (size_t i = 0; i < 8 && i < key.size(); ++i) {
    seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  }
  return seq;
}

absl::StatusOr<std::unique_ptr<StateDb>> StateDb::Open(const Options& options) {
  std::unique_ptr<StateDb> sdb(new StateDb());
  sdb->filters_ = std::make_unique<Filters>(options.clock);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // Recover everything that reached the WAL; a torn tail record is dropped.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::ColumnFamilyOptions replay_options;
  replay_options.compaction_filter = &sdb->filters_->replay;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {"records", cf_options},
      {"replay", replay_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, options.path, cfs, &handles,
                                     &sdb->db_);
  } else {
    s = rocksdb::DB::Open(db_options, options.path, cfs, &handles, &sdb->db_);
  }
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open the state database at ", options.path, ": ", s.ToString(),
        s.IsIOError() ? " (is another dxgate using this data_dir?)" : ""));
  }
  sdb->default_ = handles[0];
  sdb->records_ = handles[1];
  sdb->replay_ = handles[2];
  return sdb;
}

StateDb::~StateDb() {
  if (db_ == nullptr) return;
  for (auto* h : {default_, records_, replay_}) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
  }
  db_->Close();
  delete db_;
}

}  // namespace dx::audit
