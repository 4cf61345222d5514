#include "adapters/sql/change_feed.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapters/sql/sql_source.h"
#include "common/log.h"
#include "common/records.h"
#include "common/status_macros.h"

namespace dx::adapters {
namespace {

// Rows the sequencer stamps per transaction (StampStatement's LIMIT).
constexpr int kStampRound = 10000;
// How often a waiting feed checks that the gateway is still there.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(50);
// Pruning runs at most this often per dataset, for at most kPruneTime.
constexpr absl::Duration kPruneEvery = absl::Minutes(1);
constexpr absl::Duration kPruneTime = absl::Seconds(5);
// A batch ends once its changes reach this many bytes, whatever
// max_changes allows: very wide rows (and their before images) times
// 10,000 would pass the gateway's 64 MiB receive limit and stall the feed
// on a message it cannot take. The rows not taken are read again next.
constexpr size_t kMaxBatchBytes = 8 << 20;
// The least time between two reads of a busy feed (see its use).
constexpr absl::Duration kLinger = absl::Milliseconds(5);

using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Runs one statement (parameters as text); its result when it succeeded.
absl::StatusOr<Result> Exec(PGconn* c, const std::string& sql,
                            const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  Result r(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()),
                        nullptr, values.data(), nullptr, nullptr, 0),
           &PQclear);
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return PgError(c, r.get());
  }
  return r;
}

// The read statement's columns: seq, key, kind, time, whether it has a
// before image, then the fields' values, then their values before.
constexpr int kFirstValue = 5;

// The one bigint of a one-row result (0 for NULL).
absl::StatusOr<int64_t> ExecInt(PGconn* c, const std::string& sql) {
  DX_ASSIGN_OR_RETURN(Result r, Exec(c, sql));
  int64_t v = 0;
  if (PQntuples(r.get()) == 1 && !PQgetisnull(r.get(), 0, 0) &&
      !absl::SimpleAtoi(PQgetvalue(r.get(), 0, 0), &v)) {
    return absl::InternalError(absl::StrCat("'", sql, "' gave no integer"));
  }
  return v;
}

// Runs `body` in a READ WRITE transaction (the pool's connections are read
// only by default); rolls back when it fails. READ COMMITTED whatever the
// role's default: the sequencer's UPDATE must see what the previous lock
// holder committed (a REPEATABLE READ snapshot taken before the lock would
// not). A session that stops talking inside it (a partition) is ended by
// the server after a minute, so its advisory lock does not stall every
// feed until TCP gives up.
template <typename Body>
absl::Status InWriteTransaction(PGconn* c, Body body) {
  DX_RETURN_IF_ERROR(
      Exec(c, "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE").status());
  absl::Status s =
      Exec(c, "SET LOCAL idle_in_transaction_session_timeout = '60s'").status();
  if (s.ok()) s = body();
  if (s.ok()) s = Exec(c, "COMMIT").status();
  if (!s.ok() && PQstatus(c) == CONNECTION_OK &&
      PQtransactionStatus(c) != PQTRANS_IDLE) {
    (void)Exec(c, "ROLLBACK");
  }
  return s;
}

absl::StatusOr<v1::ChangeKind> KindOf(absl::string_view s) {
  if (s == "insert") return v1::CHANGE_KIND_INSERT;
  if (s == "update") return v1::CHANGE_KIND_UPDATE;
  if (s == "delete") return v1::CHANGE_KIND_DELETE;
  if (s == "correction") return v1::CHANGE_KIND_CORRECTION;
  return absl::FailedPreconditionError(
      absl::StrCat("the outbox holds a change of kind '", s,
                   "' (insert, update, delete or correction expected)"));
}

absl::Status OutOfRange(int64_t after, int64_t horizon) {
  return absl::OutOfRangeError(absl::StrCat(
      "position ", after,
      " is older than the oldest change the provider "
      "still keeps (changes up to ",
      horizon,
      " were pruned after the feed's keep_hours); the consumer must "
      "resynchronise: take a fresh copy, then subscribe from now"));
}

}  // namespace

bool SqlChangeFeed::PruneDue() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - last_prune_ < kPruneEvery) return false;
  last_prune_ = now;
  return true;
}

// One running feed on one connection.
class SqlChangeFeed::Feed {
 public:
  Feed(const SqlChangeFeed& source, PGconn* conn, const FetchContext& context)
      : source_(source), plan_(source.plan_), c_(conn), context_(context) {}

  // The sequencer: stamps every committed unstamped row, in rounds.
  absl::Status Stamp() {
    for (;;) {
      int stamped = 0;
      DX_RETURN_IF_ERROR(InWriteTransaction(c_, [&]() -> absl::Status {
        DX_RETURN_IF_ERROR(Exec(c_, plan_.LockStatement()).status());
        DX_ASSIGN_OR_RETURN(Result r, Exec(c_, plan_.StampStatement()));
        (void)absl::SimpleAtoi(PQcmdTuples(r.get()), &stamped);
        return absl::OkStatus();
      }));
      if (stamped < kStampRound) break;
    }
    if (source_.PruneDue()) Prune();
    // A prune that failed on a lost connection fails the feed here.
    if (PQstatus(c_) == CONNECTION_BAD) return PgError(c_, nullptr);
    return absl::OkStatus();
  }

  // Deletes what keep_hours let go, in rounds, for at most kPruneTime. A
  // failure is logged, not fatal: a feed is served while the outbox is
  // longer than it should be (the next minute tries again).
  void Prune() {
    const absl::Time stop = absl::Now() + kPruneTime;
    for (;;) {
      int deleted = 0;
      absl::Status s = InWriteTransaction(c_, [&]() -> absl::Status {
        DX_ASSIGN_OR_RETURN(Result r, Exec(c_, plan_.PruneStatement()));
        (void)absl::SimpleAtoi(PQcmdTuples(r.get()), &deleted);
        return absl::OkStatus();
      });
      if (!s.ok()) {
        LogEvent("dx-sql-adapter", "warning", "change feed prune failed",
                 {{"dataset", plan_.dataset_id()},
                  {"error", std::string(s.message())}});
        return;
      }
      if (deleted < ChangeFeedPlan::kPruneRound || absl::Now() >= stop) return;
    }
  }

  // Up to `max` changes after `after`, appended to `batch`; the last
  // position read, or `after` when none.
  // `full` is set when the batch reached kMaxBatchBytes before the rows
  // read ran out (more are waiting).
  absl::StatusOr<int64_t> Read(const std::string& sql, int64_t after,
                               uint32_t max, v1::ChangeBatch* batch,
                               bool* full) {
    *full = false;
    size_t bytes = 0;
    absl::StatusOr<Result> read =
        Exec(c_, sql, {absl::StrCat(after), absl::StrCat(max)});
    if (absl::IsInvalidArgument(read.status())) {
      // Only the outbox's stored values are cast here (the parameters are
      // two integers we wrote): a row the provider put in by hand that
      // does not fit the table. The feed cannot pass it; say which.
      return absl::FailedPreconditionError(absl::StrCat(
          "a change in the outbox after position ", after,
          " holds a value that does not fit the dataset's table (",
          read.status().message(),
          "); the provider must correct or delete that outbox row"));
    }
    DX_ASSIGN_OR_RETURN(Result r, std::move(read));
    const PGresult* res = r.get();
    const int columns = batch->columns_size();
    for (int t = 0; t < PQntuples(res); ++t) {
      if (bytes >= kMaxBatchBytes) {
        *full = true;
        break;
      }
      v1::ProviderChange* change = batch->add_changes();
      change->set_position(PQgetvalue(res, t, 0));
      (void)absl::SimpleAtoi(PQgetvalue(res, t, 0), &after);
      change->set_key(PQgetvalue(res, t, 1));
      DX_ASSIGN_OR_RETURN(v1::ChangeKind kind, KindOf(PQgetvalue(res, t, 2)));
      change->set_kind(kind);
      int64_t micros = 0;
      (void)absl::SimpleAtoi(PQgetvalue(res, t, 3), &micros);
      change->mutable_commit_time()->set_seconds(
          micros >= 0 ? micros / 1000000 : (micros - 999999) / 1000000);
      change->mutable_commit_time()->set_nanos(
          static_cast<int32_t>(((micros % 1000000) + 1000000) % 1000000) *
          1000);
      // A delete's values are the record as it was (the gateway decides a
      // row filter with them and never sends them), as an update's
      // previous_values are.
      auto row_at = [&](int first, v1::Row* row) {
        for (int i = 0; i < columns; ++i) {
          const int col = first + i;
          if (PQgetisnull(res, t, col)) {
            AddNull(row);
          } else {
            row->add_values(FormatPgValue(PQftype(res, col),
                                          PQgetvalue(res, t, col),
                                          PQgetlength(res, t, col)));
          }
        }
      };
      row_at(kFirstValue, change->mutable_values());
      if (std::string_view(PQgetvalue(res, t, 4)) == "t") {
        row_at(kFirstValue + columns, change->mutable_previous_values());
      }
      bytes += change->ByteSizeLong();
    }
    return after;
  }

  // One page of the snapshot begun at feed position `feed`: up to `max`
  // records after `from` (all from the first when it has no key), appended
  // to `batch` as changes of kind snapshot, each positioned to resume the
  // snapshot after it. Moves `from` to the last record read; the number read.
  // `full` as Read's.
  absl::StatusOr<int> ReadSnapshot(const std::string& first_sql,
                                   const std::string& next_sql, uint32_t max,
                                   SnapshotPosition* from,
                                   v1::ChangeBatch* batch, bool* full) {
    *full = false;
    size_t bytes = 0;
    int taken = 0;
    DX_ASSIGN_OR_RETURN(
        Result r, from->has_key
                      ? Exec(c_, next_sql, {from->last_key, absl::StrCat(max)})
                      : Exec(c_, first_sql, {absl::StrCat(max)}));
    const PGresult* res = r.get();
    const int columns = batch->columns_size();
    for (int t = 0; t < PQntuples(res); ++t) {
      if (bytes >= kMaxBatchBytes) {
        *full = true;
        break;
      }
      v1::ProviderChange* change = batch->add_changes();
      from->has_key = true;
      from->last_key = PQgetvalue(res, t, 0);
      change->set_key(from->last_key);
      change->set_kind(v1::CHANGE_KIND_SNAPSHOT);
      change->set_position(FormatSnapshotPosition(*from));
      for (int i = 0; i < columns; ++i) {
        const int col = 1 + i;
        if (PQgetisnull(res, t, col)) {
          AddNull(change->mutable_values());
        } else {
          change->mutable_values()->add_values(
              FormatPgValue(PQftype(res, col), PQgetvalue(res, t, col),
                            PQgetlength(res, t, col)));
        }
      }
      bytes += change->ByteSizeLong();
      ++taken;
    }
    return taken;
  }

  // Waits until the trigger notifies, `until` passes or the gateway goes
  // away. Notifications that came while a statement ran count at once.
  absl::Status Wait(absl::Time until) {
    for (;;) {
      if (!PQconsumeInput(c_)) return PgError(c_, nullptr);
      bool notified = false;
      while (PGnotify* n = PQnotifies(c_)) {
        PQfreemem(n);
        notified = true;
      }
      const absl::Time now = absl::Now();
      if (notified || now >= until || context_.cancelled()) {
        return absl::OkStatus();
      }
      pollfd fd{PQsocket(c_), POLLIN, 0};
      (void)poll(&fd, 1,
                 static_cast<int>(absl::ToInt64Milliseconds(
                     std::min(kWaitSlice, until - now))) +
                     1);
    }
  }

 private:
  const SqlChangeFeed& source_;
  const ChangeFeedPlan& plan_;
  PGconn* const c_;
  const FetchContext& context_;
};

absl::Status SqlChangeFeed::Housekeep() const {
  DX_ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Acquire(absl::Now()));
  PgConnection& conn = *lease;
  if (const std::string set = conn.TimeoutStatement(max_statement_);
      !set.empty()) {
    DX_RETURN_IF_ERROR(Exec(conn.get(), set).status());
    conn.TimeoutSet(max_statement_);
  }
  const FetchContext context;
  Feed feed(*this, conn.get(), context);
  return feed.Stamp();
}

absl::Status SqlChangeFeed::Changes(const v1::ChangesRequest& request,
                                    const FetchContext& context,
                                    const EmitChanges& emit) const {
  const std::vector<std::string> fields(request.fields().begin(),
                                        request.fields().end());
  DX_ASSIGN_OR_RETURN(const std::string read_sql, plan_.ReadStatement(fields));
  int64_t after = -1;  // -1: from the oldest change kept
  // Set when the feed starts (or goes on) with a snapshot.
  std::optional<SnapshotPosition> snapshot;
  if (absl::StartsWith(request.after_position(), kSnapshotPrefix)) {
    DX_ASSIGN_OR_RETURN(snapshot,
                        ParseSnapshotPosition(request.after_position()));
    after = snapshot->feed;
  } else if (!request.after_position().empty()) {
    DX_ASSIGN_OR_RETURN(after, ParseFeedPosition(request.after_position()));
  }
  DX_ASSIGN_OR_RETURN(const std::string snapshot_first_sql,
                      plan_.SnapshotStatement(fields, false));
  DX_ASSIGN_OR_RETURN(const std::string snapshot_next_sql,
                      plan_.SnapshotStatement(fields, true));
  const uint32_t max_changes =
      std::min(kMaxChanges, request.max_changes() == 0 ? kDefaultMaxChanges
                                                       : request.max_changes());
  const absl::Duration idle =
      absl::Seconds(request.idle_seconds() == 0 ? 10 : request.idle_seconds());

  absl::StatusOr<PgPool::Lease> lease = pool_->Acquire(absl::InfiniteFuture());
  if (!lease.ok()) {
    if (pool_->open_connections() >= plan_.max_feeds()) {
      return absl::UnavailableError(absl::StrCat(
          "dataset ", plan_.dataset_id(), " already serves ", plan_.max_feeds(),
          " change feeds (each holds a database connection); retry later, "
          "or raise change_feed.max_feeds in the adapter's config if the "
          "database has room"));
    }
    return lease.status();
  }
  PgConnection& conn = **lease;
  PGconn* c = conn.get();
  Feed feed(*this, c, context);

  auto run = [&]() -> absl::Status {
    if (const std::string set = conn.TimeoutStatement(max_statement_);
        !set.empty()) {
      DX_RETURN_IF_ERROR(Exec(c, set).status());
      conn.TimeoutSet(max_statement_);
    }
    // LISTEN before the first read: a change committed after it wakes us.
    DX_RETURN_IF_ERROR(Exec(c, plan_.ListenStatement()).status());
    DX_RETURN_IF_ERROR(feed.Stamp());
    v1::ChangeBatch empty;
    for (const std::string& f : fields) empty.add_columns(f);
    absl::Time last_emit = absl::Now();
    auto send = [&](v1::ChangeBatch&& batch) {
      batch.set_end_position(absl::StrCat(after));
      last_emit = absl::Now();
      return emit(std::move(batch));
    };
    DX_ASSIGN_OR_RETURN(const int64_t end, ExecInt(c, plan_.EndStatement()));
    if (request.position_only()) {
      // Where this request would start: the gateway pins a new
      // subscription there, so that its resumes never start later.
      v1::ChangeBatch start(empty);
      if (request.snapshot_first()) {
        start.set_in_snapshot(true);
        start.set_end_position(FormatSnapshotPosition({end, false, ""}));
      } else if (request.from_end()) {
        start.set_end_position(absl::StrCat(end));
      } else {
        DX_ASSIGN_OR_RETURN(const int64_t horizon,
                            ExecInt(c, plan_.HorizonStatement()));
        start.set_end_position(absl::StrCat(horizon));
      }
      (void)emit(std::move(start));
      return absl::OkStatus();
    }
    if (request.snapshot_first() && request.after_position().empty()) {
      snapshot = SnapshotPosition{end, false, ""};  // not pinned: from here
      after = end;
    }
    if (snapshot.has_value()) {
      if (after > end) {
        return absl::OutOfRangeError(absl::StrCat(
            "snapshot position ", after, " is beyond the change feed's end (",
            end,
            "): the provider's outbox was recreated or its database "
            "restored; the consumer must subscribe anew with a snapshot"));
      }
      // The snapshot's pages, each read as of its own time; the feed then
      // replays every change since the snapshot began, so the consumer's
      // copy converges on the table (a record may come twice).
      for (;;) {
        v1::ChangeBatch page(empty);
        page.set_in_snapshot(true);
        bool full = false;
        DX_ASSIGN_OR_RETURN(
            const int got,
            feed.ReadSnapshot(snapshot_first_sql, snapshot_next_sql,
                              max_changes, &*snapshot, &page, &full));
        // The changes since the snapshot began must all still be there.
        DX_ASSIGN_OR_RETURN(const int64_t horizon,
                            ExecInt(c, plan_.HorizonStatement()));
        if (after < horizon) return OutOfRange(after, horizon);
        const bool complete = got < static_cast<int>(max_changes) && !full;
        page.set_snapshot_complete(complete);
        page.set_end_position(complete ? absl::StrCat(after)
                                       : FormatSnapshotPosition(*snapshot));
        last_emit = absl::Now();
        if (!emit(std::move(page))) return absl::OkStatus();
        if (complete) break;
        if (context.cancelled()) return absl::OkStatus();
      }
    } else if (request.from_end()) {
      after = end;
      if (!send(v1::ChangeBatch(empty))) return absl::OkStatus();
    } else if (after < 0) {
      DX_ASSIGN_OR_RETURN(after, ExecInt(c, plan_.HorizonStatement()));
    } else if (after > end) {
      // Positions only grow, so one past the end was never given by this
      // outbox: it was recreated or its database restored from a backup,
      // and reading on would silently skip what is numbered again below.
      return absl::OutOfRangeError(absl::StrCat(
          "position ", after, " is beyond the change feed's end (", end,
          "): the provider's outbox was recreated or its database restored; "
          "the consumer must resynchronise: take a fresh copy, then "
          "subscribe from now"));
    }
    while (!context.cancelled()) {
      v1::ChangeBatch batch = empty;
      bool full = false;
      DX_ASSIGN_OR_RETURN(
          const int64_t last,
          feed.Read(read_sql, after, max_changes, &batch, &full));
      // After the read: a prune that committed before it raised the
      // horizon, so a short read is never mistaken for a complete one.
      DX_ASSIGN_OR_RETURN(const int64_t horizon,
                          ExecInt(c, plan_.HorizonStatement()));
      if (after < horizon) return OutOfRange(after, horizon);
      const int got = batch.changes_size();
      if (got > 0) {
        after = last;
        if (!send(std::move(batch))) return absl::OkStatus();
        if (full || got >= static_cast<int>(max_changes)) {
          continue;  // more waiting
        }
      } else if (absl::Now() - last_emit >= idle) {
        if (!send(v1::ChangeBatch(empty))) return absl::OkStatus();
      }
      DX_RETURN_IF_ERROR(feed.Wait(last_emit + idle));
      if (context.cancelled()) break;
      // Linger: under a steady stream of small commits, read at most every
      // kLinger, so that a batch holds what came meanwhile. Otherwise each
      // commit is a batch of one, the gateway pays its audit record, its
      // signature and its state write per change, and hundreds of tiny
      // batches queue in the stream's flow-control window: at 500 commits
      // a second delivery fell 0.6 s behind, at 1,000 1.6 s
      // (bench/subscription_bench.py). A quiet feed pays nothing: the wait
      // for the notification came first.
      if (const absl::Time until = last_emit + kLinger; absl::Now() < until) {
        absl::SleepFor(until - absl::Now());
      }
      DX_RETURN_IF_ERROR(feed.Stamp());
    }
    return absl::OkStatus();
  };
  absl::Status s = run();
  // The connection goes back to the pool as it came: no transaction, no
  // channel listened to (a broken one is closed by the lease).
  if (PQstatus(c) == CONNECTION_OK) {
    if (PQtransactionStatus(c) != PQTRANS_IDLE) (void)Exec(c, "ROLLBACK");
    (void)Exec(c, "UNLISTEN *");
    while (PGnotify* n = PQnotifies(c)) PQfreemem(n);
  }
  // Whatever failed, a connection lost under it is the reason to tell:
  // UNAVAILABLE, which the gateway retries from its acknowledged position.
  if (!s.ok() && !absl::IsUnavailable(s) && PQstatus(c) == CONNECTION_BAD) {
    return PgError(c, nullptr);
  }
  return s;
}

}  // namespace dx::adapters
