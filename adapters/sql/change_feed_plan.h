// ChangeFeedPlan: a SQL dataset's change feed (SqlChangeFeed) turned into
// the names and statements the adapter and the operator use: the DDL that
// creates the outbox (a table filled by triggers on the dataset's table),
// and the statements of the sequencer, the reader and the pruner. Every
// name is a quoted identifier and every literal escaped, from the
// configuration only; request values travel as parameters. Pure: no
// database here, so it is unit-tested alone. Immutable and thread-safe.
//
// Why an outbox and not logical decoding (pgoutput): a replication slot
// holds WAL for as long as a consumer is away and needs a replication
// connection and a binary protocol parser; an outbox is plain SQL, its
// retention is a DELETE, and it works with an ordinary role
// (docs/ADAPTERS.md, "Change feeds").
#ifndef DX_ADAPTERS_SQL_CHANGE_FEED_PLAN_H_
#define DX_ADAPTERS_SQL_CHANGE_FEED_PLAN_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dx/v1/sql_adapter.pb.h"

namespace dx::adapters {

// A feed position: the decimal `seq` the sequencer stamped, as text. ""
// is read as "from the oldest change kept" by the caller. INVALID_ARGUMENT
// for anything but 1 to 19 decimal digits within int64.
absl::StatusOr<int64_t> ParseFeedPosition(absl::string_view position);

// A position inside a snapshot (ChangesRequest.snapshot_first): the feed
// position the snapshot began at, and the key of the last record sent
// (none before the first). Written "snapshot:<feed position>" and
// "snapshot:<feed position>:<key as text>"; the key is the rest, whatever
// it holds.
struct SnapshotPosition {
  int64_t feed = 0;
  bool has_key = false;
  std::string last_key;
};
inline constexpr absl::string_view kSnapshotPrefix = "snapshot:";
// Keys longer than this are refused in a position (a key column is short;
// a position comes back from the gateway, which stores it).
inline constexpr size_t kMaxSnapshotKeyBytes = 4096;
std::string FormatSnapshotPosition(const SnapshotPosition& p);
// INVALID_ARGUMENT unless `position` is what FormatSnapshotPosition wrote.
absl::StatusOr<SnapshotPosition> ParseSnapshotPosition(
    absl::string_view position);

class ChangeFeedPlan {
 public:
  // INVALID_ARGUMENT naming the dataset and what is wrong in its
  // change_feed (no outbox table, a key field that is not a field, ...).
  static absl::StatusOr<ChangeFeedPlan> Compile(const v1::SqlDataset& dataset);

  // The SQL that creates the outbox, its sequence and horizon, the trigger
  // function and the trigger, in one transaction; when `reader_role` is
  // not empty, the grants the adapter's role needs (and no more).
  std::string Ddl(absl::string_view reader_role) const;

  // The sequencer: run in order in one READ WRITE transaction. The lock
  // serialises stampers (adapter replicas); the update, a new snapshot
  // taken after the lock, stamps every committed unstamped row in id order.
  std::string LockStatement() const;
  std::string StampStatement() const;
  // $1 = the position to read after, $2 = at most this many rows. Columns:
  // seq, key, kind, commit time in microseconds since the epoch, then the
  // values of `fields` (dataset fields; INVALID_ARGUMENT for an unknown
  // one), typed as the dataset's table types them.
  absl::StatusOr<std::string> ReadStatement(
      const std::vector<std::string>& fields) const;
  // One page of the snapshot: the dataset's records in key order, after
  // the key $1 (`after_key`; the first page has no $1), at most $2 (or $1
  // on the first page) of them. Columns: the key as text, then the values
  // of `fields` as ReadStatement's are. The key column's type decides the
  // order and the comparison, so the table's own index serves each page.
  absl::StatusOr<std::string> SnapshotStatement(
      const std::vector<std::string>& fields, bool after_key) const;
  // The position below which changes were pruned (one row, one column).
  std::string HorizonStatement() const;
  // The present end: the last stamped position, or the horizon when the
  // outbox is empty.
  std::string EndStatement() const;
  // Deletes stamped rows older than keep_hours, a prefix in seq order, at
  // most about kPruneRound of them, and raises the horizon to the last one
  // deleted. Its command tuples are the rows deleted.
  static constexpr int kPruneRound = 10000;
  std::string PruneStatement() const;
  // LISTEN on the channel the trigger notifies.
  std::string ListenStatement() const;

  const std::string& dataset_id() const { return dataset_id_; }
  absl::Duration keep() const { return keep_; }
  int max_feeds() const { return max_feeds_; }

 private:
  std::string dataset_id_;
  std::string source_;            // quoted, maybe schema-qualified
  std::string outbox_;            // quoted, maybe schema-qualified
  std::string sequence_;          // quoted <outbox>_seq
  std::string pruned_;            // quoted <outbox>_pruned
  std::string function_;          // quoted <outbox>_capture
  std::string trigger_;           // quoted, unqualified <outbox name>_capture
  std::string index_;             // quoted, unqualified <outbox name>_unstamped
  std::string notify_function_;   // quoted <outbox>_notify
  std::string notify_trigger_;    // quoted, unqualified <outbox name>_notify
  std::string truncate_trigger_;  // quoted, unqualified <outbox name>_trunc
  std::string channel_;           // the outbox's name as written in the config
  std::string key_column_;        // quoted
  std::string key_name_;          // the key column's name, unquoted
  std::vector<std::pair<std::string, std::string>> fields_;  // name, column
  int64_t lock_key_ = 0;  // the advisory lock's second key
  absl::Duration keep_;
  int max_feeds_ = 16;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SQL_CHANGE_FEED_PLAN_H_
