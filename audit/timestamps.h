// The RFC 3161 time-stamps of this log's signed tree heads, kept in the
// state database (meta column family, "tsa/" be64(tree_size) ->
// TreeHeadTimestamp), written by the gateway's stamper
// (gateway/tree_head_stamping.h) and read into export bundles. Keyed by
// tree size: a head is stamped at most once. Thread-safe (RocksDB is).
#ifndef DX_AUDIT_TIMESTAMPS_H_
#define DX_AUDIT_TIMESTAMPS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "audit/state_db.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

// Stores `stamp` durably (a synced write).
absl::Status PutTreeHeadTimestamp(StateDb* db,
                                  const v1::TreeHeadTimestamp& stamp);

// The stamp of the largest tree size, if any.
absl::StatusOr<std::optional<v1::TreeHeadTimestamp>> LatestTreeHeadTimestamp(
    const StateDb& db);

// What a bundle of records below `to`, proven against a head of
// `head_size`, carries: the earliest stamp of a size in [to, head_size]
// (it covers every record of the bundle), or else the latest one below
// `to` (it covers those before its size). Without consistency paths
// (bundle.cc adds them).
absl::StatusOr<std::vector<v1::TreeHeadTimestamp>> TimestampsForBundle(
    const StateDb& db, uint64_t to, uint64_t head_size);

}  // namespace dx::audit

#endif  // DX_AUDIT_TIMESTAMPS_H_
