// StateDb: the gateway's one RocksDB database, with a column family per kind
// of state (audit records, replay guard entries). Sharing one write-ahead log
// matters: a synced audit append also makes every earlier replay-guard write
// durable, so one fsync covers both.
#ifndef DX_AUDIT_STATE_DB_H_
#define DX_AUDIT_STATE_DB_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace dx::audit {

class StateDb {
 public:
  struct Options {
    std::string path;
    bool read_only = false;
    // Used by the replay column family's compaction filter to drop expired
    // entries.
    const Clock* clock = SystemClock::Get();
  };
  static absl::StatusOr<std::unique_ptr<StateDb>> Open(const Options& options);
  ~StateDb();  // flushes and closes

  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* records() const { return records_; }
  rocksdb::ColumnFamilyHandle* replay() const { return replay_; }

 private:
  StateDb() = default;
  struct Filters;
  std::unique_ptr<Filters> filters_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
  rocksdb::ColumnFamilyHandle* records_ = nullptr;
  rocksdb::ColumnFamilyHandle* replay_ = nullptr;
};

// Big-endian fixed-width encoding, so keys sort by number.
std::string EncodeSequence(uint64_t seq);
uint64_t DecodeSequence(const std::string& key);

}  // namespace dx::audit

#endif  // DX_AUDIT_STATE_DB_H_
