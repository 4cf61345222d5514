// RocksDbWitnessStore: the witness's latest cosigned checkpoints in the
// node's state database (audit::StateDb, meta column family, keys
// "witness/latest/<origin>"), so that one RocksDB and one backup hold the
// node's whole state. Each Save is a synced write: tlog-witness requires
// the state on disk before the cosignature leaves. Thread-safe (RocksDB
// is); the database must outlive the store.
#ifndef DX_WITNESS_ROCKSDB_STORE_H_
#define DX_WITNESS_ROCKSDB_STORE_H_

#include "witness/store.h"

namespace dx::audit {
class StateDb;
}

namespace dx::witness {

class RocksDbWitnessStore final : public WitnessStore {
 public:
  explicit RocksDbWitnessStore(audit::StateDb* db) : db_(db) {}
  absl::StatusOr<WitnessedCheckpoints> LoadAll() const override;
  absl::Status Save(absl::string_view origin,
                    const WitnessedCheckpoint& checkpoint) override;

 private:
  audit::StateDb* const db_;
};

}  // namespace dx::witness

#endif  // DX_WITNESS_ROCKSDB_STORE_H_
