// StateDb: the audit log's RocksDB database (data_dir/state), with a column
// family per kind of state: audit records, the Merkle tree, signed tree
// heads, the audit indexes. docs/AUDIT.md lists every key layout.
#ifndef DX_AUDIT_STATE_DB_H_
#define DX_AUDIT_STATE_DB_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
}  // namespace rocksdb

namespace dx::audit {

// The column families.
enum class Cf {
  kRecords,      // be64(seq) -> AuditRecord bytes
  kTree,         // level(1) be64(index) -> perfect subtree hash
  kTreeHeads,    // be64(tree_size) -> SignedTreeHead
  kIdxTime,      // be64(time) be64(seq)
  kIdxConsumer,  // consumer 0x00 be64(time) be64(seq)
  kIdxProvider,  // provider 0x00 be64(time) be64(seq)
  kIdxDataset,   // dataset 0x00 be64(time) be64(seq)
  kIdxSubject,   // hmac(32) be64(time) be64(seq)
  kIdxRequest,   // request_id 0x00 consumer 0x00 be64(seq)
  kIdxDecision,  // decision(1) be64(time) be64(seq)
  kReplay,       // unused since the replay guard moved to memory (2026-11);
                 // kept so that data dirs made before still open
  kMeta,         // small state (e.g. the health probe)
  kCount,
};

class StateDb {
 public:
  struct Options {
    std::string path;
    bool read_only = false;
    // Tests inject faults (e.g. a full disk) through their own Env.
    rocksdb::Env* env = nullptr;
    // The block cache shared by every column family.
    size_t block_cache_bytes = size_t{256} << 20;
    // All column families' memtables together (RocksDB's default lets each
    // of the 13 grow to 2 x 64 MiB). It also sizes the WAL's preallocation
    // (1.1 x the smaller of this and 64 MiB), which reserves real space.
    size_t write_buffer_bytes = size_t{128} << 20;
  };
  static absl::StatusOr<std::unique_ptr<StateDb>> Open(const Options& options);
  ~StateDb();  // flushes and closes

  rocksdb::DB* db() const { return db_; }
  const std::string& path() const { return path_; }
  rocksdb::ColumnFamilyHandle* cf(Cf which) const {
    return handles_[static_cast<int>(which)];
  }
  rocksdb::ColumnFamilyHandle* records() const { return cf(Cf::kRecords); }
  // A consistent copy of the database in `dir` (which must not exist),
  // taken while it is written: a RocksDB checkpoint (hard links on the
  // same file system, copies otherwise) after a flush of the WAL.
  absl::Status Checkpoint(const std::string& dir) const;

 private:
  StateDb() = default;
  std::string path_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
  rocksdb::ColumnFamilyHandle* handles_[static_cast<int>(Cf::kCount)] = {};
};

}  // namespace dx::audit

#endif  // DX_AUDIT_STATE_DB_H_
