#include "audit/state_db.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/keys.h"

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
    const uint64_t expiry = DecodeBigEndian64(value.ToString());
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

absl::StatusOr<std::unique_ptr<StateDb>> StateDb::Open(const Options& options) {
  std::unique_ptr<StateDb> sdb(new StateDb());
  sdb->filters_ = std::make_unique<Filters>(options.clock);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  if (options.env != nullptr) db_options.env = options.env;
  // Recover everything that reached the WAL; a torn tail record is dropped.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::ColumnFamilyOptions replay_options;
  replay_options.compaction_filter = &sdb->filters_->replay;
  static constexpr const char* kNames[] = {
      "records",      "tree",         "tree_heads",  "idx_time",
      "idx_consumer", "idx_provider", "idx_dataset", "idx_subject",
      "idx_request",  "idx_decision", "replay",      "meta"};
  static_assert(std::size(kNames) == static_cast<size_t>(Cf::kCount));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options}};
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    cfs.push_back({kNames[i], static_cast<Cf>(i) == Cf::kReplay ? replay_options
                                                                : cf_options});
  }
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
  sdb->path_ = options.path;
  sdb->default_ = handles[0];
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    sdb->handles_[i] = handles[i + 1];
  }
  return sdb;
}

StateDb::~StateDb() {
  if (db_ == nullptr) return;
  for (auto* h : handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
  }
  db_->DestroyColumnFamilyHandle(default_);
  db_->Close();
  delete db_;
}

}  // namespace dx::audit
