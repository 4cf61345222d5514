// What the ThreadSanitizer build changes in how RocksDB is opened.
#ifndef DX_COMMON_ROCKSDB_UNDER_TSAN_H_
#define DX_COMMON_ROCKSDB_UNDER_TSAN_H_

#include <rocksdb/options.h>

namespace dx {

// Under ThreadSanitizer only: every write to RocksDB is its own write group.
// RocksDB groups concurrent writes: the first writer (the leader) copies the
// other writers' batches, which live in their threads' memory, into one WAL
// record. The hand-off is RocksDB's own lock-free queue inside Debian's
// uninstrumented library, so TSan sees the leader read memory another thread
// wrote with no order between them (the audit log's writer and the
// statistics push writing to the same state database, CI of 2026-12-07), and
// its stack holds only our frames, so no suppression can name RocksDB.
// A group limit of zero bytes stops a leader from taking any follower
// (db/write_thread.cc: EnterAsBatchGroupLeader); every writer then writes
// its own batch. Production builds keep RocksDB's group commit.
inline void SerializeRocksDbWritesUnderTsan(
    [[maybe_unused]] rocksdb::DBOptions* options) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  options->max_write_batch_group_size_bytes = 0;
#endif
#endif
}

}  // namespace dx

#endif  // DX_COMMON_ROCKSDB_UNDER_TSAN_H_
