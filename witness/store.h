// WitnessStore: where a witness keeps, per origin, the latest checkpoint it
// cosigned. tlog-witness requires that state to be durable before the
// cosignature is returned: a witness that forgot it after a restart would
// cosign any next checkpoint from old size 0, a rewritten log included.
// Two implementations: in memory (unit tests, and a witness whose loss of
// state is acceptable) and RocksDB (witness/rocksdb_store.h, the node's
// state database). Implementations are thread-safe; the Witness serialises
// its read-check-write of one origin under its own lock.
#ifndef DX_WITNESS_STORE_H_
#define DX_WITNESS_STORE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace dx::witness {

// The latest checkpoint cosigned for one origin.
struct WitnessedCheckpoint {
  uint64_t size = 0;
  std::string root_hash;  // 32 bytes
  std::string note;       // as submitted, the evidence to show later
};

using WitnessedCheckpoints =
    std::map<std::string, WitnessedCheckpoint, std::less<>>;

class WitnessStore {
 public:
  virtual ~WitnessStore() = default;
  // Every origin's latest cosigned checkpoint.
  virtual absl::StatusOr<WitnessedCheckpoints> LoadAll() const = 0;
  // Replaces `origin`'s; durable (synced to disk where there is one) when
  // it returns OK.
  virtual absl::Status Save(absl::string_view origin,
                            const WitnessedCheckpoint& checkpoint) = 0;
};

class InMemoryWitnessStore final : public WitnessStore {
 public:
  absl::StatusOr<WitnessedCheckpoints> LoadAll() const override;
  absl::Status Save(absl::string_view origin,
                    const WitnessedCheckpoint& checkpoint) override;

 private:
  mutable absl::Mutex mu_;
  WitnessedCheckpoints saved_ ABSL_GUARDED_BY(mu_);
};

// The stored form of one checkpoint: be64(size) || 32-byte root || note.
// Decode refuses anything else (DataLoss: the store is damaged).
std::string EncodeWitnessedCheckpoint(const WitnessedCheckpoint& checkpoint);
absl::StatusOr<WitnessedCheckpoint> DecodeWitnessedCheckpoint(
    absl::string_view bytes);

}  // namespace dx::witness

#endif  // DX_WITNESS_STORE_H_
