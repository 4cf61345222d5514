#include "audit/state_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/keys.h"
#include "common/rocksdb_under_tsan.h"

namespace dx::audit {
namespace {

// Appends to the audit column families arrive in key order within a prefix
// (a consumer's keys in time order, the records in sequence order). With
// the prefix as an insert hint, the memtable skips its search from the top
// of the skip list, which otherwise dominates the writer's CPU time.
class InsertHint final : public rocksdb::SliceTransform {
 public:
  // Up to and including the first 0x00 byte (`fixed` < 0), or `fixed` bytes.
  explicit InsertHint(int fixed) : fixed_(fixed) {}
  const char* Name() const override { return "dx.InsertHint"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (fixed_ >= 0) return rocksdb::Slice(key.data(), fixed_);
    const void* zero = std::memchr(key.data(), 0, key.size());
    return rocksdb::Slice(key.data(),
                          static_cast<const char*>(zero) - key.data() + 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    if (fixed_ >= 0) return key.size() >= static_cast<size_t>(fixed_);
    return std::memchr(key.data(), 0, key.size()) != nullptr;
  }

 private:
  const int fixed_;
};

// The insert hint of each column family (nullptr: none helps).
std::shared_ptr<const rocksdb::SliceTransform> HintFor(Cf cf) {
  switch (cf) {
    case Cf::kRecords:
    case Cf::kTreeHeads:
    case Cf::kIdxTime:
      return std::make_shared<InsertHint>(0);
    case Cf::kTree:
    case Cf::kIdxDecision:
      return std::make_shared<InsertHint>(1);
    case Cf::kIdxSubject:
      return std::make_shared<InsertHint>(32);
    case Cf::kIdxConsumer:
    case Cf::kIdxProvider:
    case Cf::kIdxDataset:
      return std::make_shared<InsertHint>(-1);
    default:
      return nullptr;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateDb>> StateDb::Open(const Options& options) {
  std::unique_ptr<StateDb> sdb(new StateDb());
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  if (options.env != nullptr) db_options.env = options.env;
  // One thread writes the audit log; insert hints need this off.
  db_options.allow_concurrent_memtable_write = false;
  SerializeRocksDbWritesUnderTsan(&db_options);
  // Keep the WAL's fdatasync short and steady: write table files out in
  // small steps (no burst of dirty pages for the journal to flush along
  // with the WAL), and reuse WAL files, whose blocks are already allocated,
  // so a sync need not update file-system metadata.
  db_options.bytes_per_sync = 1 << 20;
  // Deleting obsolete files in one go makes the file system discard their
  // blocks inside a journal commit that a WAL sync then waits for (seen as
  // 100-300 ms fdatasync stalls on a disk mounted with `discard`): delete
  // them slowly, in small pieces, in the background instead.
  db_options.sst_file_manager.reset(rocksdb::NewSstFileManager(
      db_options.env, nullptr, "", /*rate_bytes_per_sec=*/64 << 20,
      /*delete_existing_trash=*/true, nullptr, /*max_trash_db_ratio=*/0.25,
      /*bytes_max_delete_chunk=*/4 << 20));
  // Recover everything that reached the WAL; a torn tail record is dropped.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Memory stays bounded as the log grows (the soak run showed the RSS
  // climbing): one budget for every memtable, and the tables' index and
  // filter blocks kept in the block cache rather than beside it.
  db_options.db_write_buffer_size = options.write_buffer_bytes;
  // One block cache shared by every column family keeps the hot blocks.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Bloom filters only where point look-ups happen: records and tree nodes
  // (queries and proofs). The indexes are only scanned: filters there would
  // cost cache memory (about 10 bits per key, growing with the log) and CPU
  // in every flush and compaction for nothing. Look-ups of records and tree
  // nodes almost always hit, so the last level, most of the data, needs no
  // filter (optimize_filters_for_hits).
  rocksdb::BlockBasedTableOptions filtered_table = table;
  filtered_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions lookup_options = cf_options;
  lookup_options.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(filtered_table));
  lookup_options.optimize_filters_for_hits = true;
  static constexpr const char* kNames[] = {
      "records",      "tree",         "tree_heads",  "idx_time",
      "idx_consumer", "idx_provider", "idx_dataset", "idx_subject",
      "idx_request",  "idx_decision", "replay",      "meta"};
  static_assert(std::size(kNames) == static_cast<size_t>(Cf::kCount));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options}};
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    const Cf cf = static_cast<Cf>(i);
    rocksdb::ColumnFamilyOptions o =
        cf == Cf::kRecords || cf == Cf::kTree ? lookup_options : cf_options;
    o.memtable_insert_with_hint_prefix_extractor = HintFor(cf);
    cfs.push_back({kNames[i], o});
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

namespace dx::audit {

absl::Status StateDb::Checkpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_, &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // No flush: the live WAL is copied with the table files. A flush goes
  // column family by column family, so records, tree and tree heads could
  // be copied at different moments; the WAL, replayed when the copy is
  // opened, brings them all to the same one.
  if (s.ok()) {
    s = checkpoint->CreateCheckpoint(dir, std::numeric_limits<uint64_t>::max());
  }
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot checkpoint the audit log into ", dir, ": ", s.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace dx::audit
