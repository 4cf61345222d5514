// PgPool: a fixed-size pool of libpq connections to one PostgreSQL server,
// opened on first use and reopened when the server went away, so a
// database that restarts is served again without restarting the adapter.
// Every connection is read-only (default_transaction_read_only), speaks
// UTF-8, ISO dates and UTC, and caches its prepared statements.
// Thread-safe; a Lease is used by one thread at a time.
#ifndef DX_ADAPTERS_SQL_PG_POOL_H_
#define DX_ADAPTERS_SQL_PG_POOL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct pg_conn;  // libpq's PGconn and PGresult, kept out of this header
struct pg_result;

namespace dx::adapters {

// One open connection and what the adapter set on it.
class PgConnection {
 public:
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  pg_conn* get() const { return conn_; }
  bool healthy() const;

  // The name of the statement prepared on this connection for `sql`, or
  // nullptr when it is not prepared yet.
  const std::string* PreparedName(const std::string& sql) const;
  // The name to prepare `sql` under (at most kMaxPrepared kept, then the
  // unnamed statement); Prepared() remembers it once the server said OK.
  std::string NameFor(const std::string& sql) const;
  void Prepared(const std::string& sql, const std::string& name);
  // The `SET statement_timeout` to send before the next statement, or ""
  // when the one in force is within 10% of `timeout` (the adapter cancels
  // at the deadline itself as well); TimeoutSet() records that it ran.
  std::string TimeoutStatement(absl::Duration timeout) const;
  void TimeoutSet(absl::Duration timeout);
  // True when the server closed this idle connection (a restart, an
  // administrator's pg_terminate_backend): checked without blocking.
  bool ClosedByServer();

  static constexpr size_t kMaxPrepared = 256;

 private:
  friend class PgPool;
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
  absl::flat_hash_map<std::string, std::string> prepared_;
  int64_t timeout_ms_ = -1;
};

class PgPool {
 public:
  struct Options {
    std::string conninfo;  // libpq connection string
    std::string password;  // from a file or the environment; may be empty
    int size = 4;
    absl::Duration acquire_timeout = absl::Seconds(1);
    int connect_timeout_s = 5;
  };

  // Returns a connection to the pool when destroyed, or closes it when it
  // was broken (the next Acquire opens a new one).
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection* operator->() const { return conn_.get(); }
    PgConnection& operator*() const { return *conn_; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  explicit PgPool(Options options);
  ~PgPool();

  // A connection, waiting until `deadline` (capped at acquire_timeout) for
  // one to be free. UNAVAILABLE when none frees in time (the pool is
  // exhausted) or the server cannot be reached; both say what to do.
  absl::StatusOr<Lease> Acquire(absl::Time deadline);

  // Connections open now (idle or leased), for tests and metrics.
  int open_connections() const;

 private:
  void Release(std::unique_ptr<PgConnection> conn);
  // Drops every idle connection that the server closed, and all of them
  // once one leased connection was found broken (the server restarted:
  // the others were opened before it too).
  void DropClosedIdle(bool all);
  absl::StatusOr<std::unique_ptr<PgConnection>> Connect() const;

  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + being opened
};

// The status for a failed libpq call on `conn` (with its result, or null):
// UNAVAILABLE when the connection is lost or the server is going away,
// INVALID_ARGUMENT for a value the server refused (SQLSTATE class 22),
// FAILED_PRECONDITION for a statement the schema does not fit (class 42,
// a config naming a missing column), DEADLINE_EXCEEDED for a statement
// timeout, INTERNAL otherwise; each with the server's message.
absl::Status PgError(pg_conn* conn, const pg_result* result);

// The user a libpq connection string names ("" when none, or when it does
// not parse): the role the change-feed DDL grants to.
std::string ConninfoUser(const std::string& conninfo);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SQL_PG_POOL_H_
