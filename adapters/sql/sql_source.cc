#include "adapters/sql/sql_source.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/records.h"
#include "common/status_macros.h"

namespace dx::adapters {
namespace {

// PostgreSQL's type OIDs (pg_type.dat) whose text output is reformatted.
constexpr Oid kBoolOid = 16;
constexpr Oid kTimestampOid = 1114;
constexpr Oid kTimestampTzOid = 1184;

// How often a query waiting on the server checks the gateway is still there.
constexpr int kPollMs = 50;

// Asks the server to stop the running statement (its own connection).
void CancelOnServer(PGconn* conn) {
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) return;
  char error[256];
  (void)PQcancel(cancel, error, sizeof error);
  PQfreeCancel(cancel);
}

bool NeedsFormatting(unsigned type_oid) {
  return type_oid == kBoolOid || type_oid == kTimestampOid ||
         type_oid == kTimestampTzOid;
}

}  // namespace

std::string FormatPgValue(unsigned int type_oid, const char* text, int len) {
  std::string v(text, static_cast<size_t>(len));
  switch (type_oid) {
    case kBoolOid:
      return v == "t" ? "true" : (v == "f" ? "false" : v);
    case kTimestampOid:
    case kTimestampTzOid:
      // "2025-07-01 08:30:00+00" (DateStyle ISO, TimeZone UTC) ->
      // "2025-07-01T08:30:00Z"
      if (v.size() > 10 && v[10] == ' ') v[10] = 'T';
      if (type_oid == kTimestampTzOid && absl::EndsWith(v, "+00")) {
        v.resize(v.size() - 3);
        v.push_back('Z');
      }
      return v;
    default:
      return v;
  }
}

absl::Status SqlSource::Fetch(const v1::AdapterRequest& request,
                              const FetchContext& context,
                              const Emit& emit) const {
  DX_ASSIGN_OR_RETURN(SqlStatement st, plan_.Build(request));
  const uint32_t batch_rows =
      request.batch_rows() != 0 ? request.batch_rows() : plan_.batch_rows();
  for (int attempt = 0;; ++attempt) {
    DX_ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Acquire(context.deadline));
    bool emitted = false;
    absl::Status s = Run(st, *lease, batch_rows, context, emit, &emitted);
    // A connection that broke before any row went out (the server
    // restarted since it was last used) is retried once on a new one.
    if (s.ok() || emitted || attempt > 0 ||
        PQstatus(lease->get()) != CONNECTION_BAD) {
      return s;
    }
  }
}

absl::Status SqlSource::Changes(const v1::ChangesRequest& request,
                                const FetchContext& context,
                                const EmitChanges& emit) const {
  (void)request;
  (void)context;
  (void)emit;
  return absl::UnimplementedError(absl::StrCat(
      "dataset ", plan_.dataset_id(),
      " has no change feed in dx-sql-adapter's configuration; give it a "
      "change_feed (docs/ADAPTERS.md, \"The SQL adapter's change feed\")"));
}

// One command in flight on a connection: waits for its results without
// blocking in libpq, so that a gateway that goes away or a deadline that
// passes cancels the statement on the server.
class SqlSource::Waiter {
 public:
  Waiter(PGconn* conn, const FetchContext& context)
      : conn_(conn), context_(context) {}

  // The next result of the command (nullptr after the last), or the
  // connection's failure. The caller PQclears it.
  absl::StatusOr<PGresult*> Next() {
    while (PQisBusy(conn_)) {
      if (!cancel_sent_) {
        deadline_passed_ = absl::Now() >= context_.deadline;
        if (deadline_passed_ || context_.cancelled()) {
          Cancel();
          gone_ = !deadline_passed_;
        }
      }
      pollfd fd{PQsocket(conn_), POLLIN, 0};
      (void)poll(&fd, 1, kPollMs);
      if (!PQconsumeInput(conn_)) return PgError(conn_, nullptr);
    }
    return PQgetResult(conn_);
  }
  // Stops the running statement on the server (it then fails with 57014).
  void Cancel() {
    if (cancel_sent_) return;
    CancelOnServer(conn_);
    cancel_sent_ = true;
  }
  // Why a statement this waiter cancelled ended, or OK when not cancelled.
  absl::Status CancelReason() const {
    if (gone_) return absl::CancelledError("the gateway cancelled");
    if (deadline_passed_) {
      return absl::DeadlineExceededError(
          "the query was cancelled on the provider's database at the "
          "gateway's deadline");
    }
    return absl::OkStatus();
  }
  bool cancel_sent() const { return cancel_sent_; }
  // Reads every result of a command that returns no rows (SET, a
  // prepare): its failure, why this waiter cancelled it, or OK.
  absl::Status Drain() {
    absl::Status failure;
    for (;;) {
      DX_ASSIGN_OR_RETURN(PGresult * r, Next());
      if (r == nullptr) break;
      if (PQresultStatus(r) != PGRES_COMMAND_OK && failure.ok()) {
        failure = PgError(conn_, r);
      }
      PQclear(r);
    }
    DX_RETURN_IF_ERROR(CancelReason());
    return failure;
  }

 private:
  PGconn* const conn_;
  const FetchContext& context_;
  bool cancel_sent_ = false, gone_ = false, deadline_passed_ = false;
};

void SqlSource::AppendRows(const PGresult* r, std::vector<unsigned>* types,
                           v1::RecordBatch* batch) {
  const int fields = PQnfields(r);
  if (types->empty()) {  // the same for every row of a statement
    for (int i = 0; i < fields; ++i) types->push_back(PQftype(r, i));
  }
  for (int t = 0; t < PQntuples(r); ++t) {
    v1::Row* row = batch->add_rows();
    for (int i = 0; i < fields; ++i) {
      if (PQgetisnull(r, t, i)) {
        AddNull(row);
      } else if (NeedsFormatting((*types)[i])) {
        row->add_values(FormatPgValue((*types)[i], PQgetvalue(r, t, i),
                                      PQgetlength(r, t, i)));
      } else {  // text, numbers, dates: as the server wrote them
        row->add_values(PQgetvalue(r, t, i),
                        static_cast<size_t>(PQgetlength(r, t, i)));
      }
    }
  }
}

absl::StatusOr<absl::Duration> SqlSource::TimeoutFor(
    const FetchContext& context) const {
  const absl::Duration left = context.deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the gateway's deadline has passed");
  }
  // A stream may run as long as the gateway lets it (a slow consumer holds
  // the statement open); a unary call at most max_statement_.
  return context.streaming ? left : std::min(left, max_statement_);
}

absl::Status SqlSource::Run(const SqlStatement& st, PgConnection& conn,
                            uint32_t batch_rows, const FetchContext& context,
                            const Emit& emit, bool* emitted) const {
  PGconn* c = conn.get();
  const int n = static_cast<int>(st.params.size());
  // Every command on the connection runs under the waiter, which cancels
  // it on the server at the deadline: the timeout is set first, then the
  // statement prepared (a prepare waits for a table's lock like a query;
  // on a fresh connection it once ran with no time limit at all).
  Waiter waiter(c, context);
  DX_ASSIGN_OR_RETURN(const absl::Duration timeout, TimeoutFor(context));
  if (const std::string set = conn.TimeoutStatement(timeout); !set.empty()) {
    if (!PQsendQuery(c, set.c_str())) return PgError(c, nullptr);
    DX_RETURN_IF_ERROR(waiter.Drain());
    conn.TimeoutSet(timeout);
  }
  std::string name;
  if (const std::string* known = conn.PreparedName(st.text)) {
    name = *known;
  } else {
    name = conn.NameFor(st.text);
    if (!PQsendPrepare(c, name.c_str(), st.text.c_str(), n, nullptr)) {
      return PgError(c, nullptr);
    }
    DX_RETURN_IF_ERROR(waiter.Drain());
    conn.Prepared(st.text, name);
  }
  std::vector<const char*> values;
  for (const std::string& p : st.params) values.push_back(p.c_str());
  if (!PQsendQueryPrepared(c, name.c_str(), n, values.data(), nullptr, nullptr,
                           0)) {
    return PgError(c, nullptr);
  }
  PQsetSingleRowMode(c);

  v1::RecordBatch header;
  for (const std::string& f : st.fields) header.add_columns(f);
  v1::RecordBatch batch = header;
  std::vector<unsigned> types;  // of the result's columns
  bool enough = false;
  absl::Status failure;
  for (;;) {
    DX_ASSIGN_OR_RETURN(PGresult * r, waiter.Next());
    if (r == nullptr) break;
    const ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_SINGLE_TUPLE && !waiter.cancel_sent()) {
      AppendRows(r, &types, &batch);
      if (batch.rows_size() >= static_cast<int>(batch_rows)) {
        *emitted = true;
        if (!emit(std::move(batch))) {  // the caller has enough
          enough = true;
          waiter.Cancel();
        }
        batch = header;
      }
    } else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK &&
               failure.ok() && !waiter.cancel_sent()) {
      failure = PgError(c, r);
    }
    PQclear(r);
  }
  if (enough) return absl::OkStatus();
  DX_RETURN_IF_ERROR(waiter.CancelReason());
  if (!failure.ok()) return failure;
  if (batch.rows_size() > 0 || !*emitted) {
    *emitted = true;
    emit(std::move(batch));
  }
  return absl::OkStatus();
}

}  // namespace dx::adapters
