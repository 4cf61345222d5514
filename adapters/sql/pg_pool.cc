#include "adapters/sql/pg_pool.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace dx::adapters {
namespace {

// Settings every connection carries, so values come back in the formats
// the datasets document whatever the server's defaults are.
constexpr const char* kSessionOptions =
    "-c default_transaction_read_only=on -c DateStyle=ISO,YMD "
    "-c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=1 "
    "-c standard_conforming_strings=on";

std::string ErrorOf(PGconn* conn) {
  std::string msg = PQerrorMessage(conn);
  return std::string(absl::StripTrailingAsciiWhitespace(msg));
}

void LogNotice(void*, const char* message) {
  dx::LogEvent("dx-sql-adapter", "warning", "database notice",
               {{"message", std::string(absl::StripTrailingAsciiWhitespace(
                                message == nullptr ? "" : message))}});
}

}  // namespace

absl::Status PgError(PGconn* conn, const PGresult* result) {
  if (PQstatus(conn) == CONNECTION_BAD) {
    return absl::UnavailableError(absl::StrCat(
        "lost the connection to the provider's database (", ErrorOf(conn),
        "); the adapter reconnects on the next request"));
  }
  const char* state =
      result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state ? state : "";
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = ErrorOf(conn);
  message = std::string(absl::StripTrailingAsciiWhitespace(message));
  if (code == "57014") {
    return absl::DeadlineExceededError(absl::StrCat(
        "the provider's database stopped the query at its time limit (",
        message, ")"));
  }
  if (code.rfind("22", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the provider's database refused a query value: ", message));
  }
  if (code.rfind("42", 0) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the adapter's statement does not fit the database (check the "
        "table and column names in its config): ",
        message));
  }
  if (code.rfind("08", 0) == 0 || code.rfind("53", 0) == 0 ||
      code.rfind("57P", 0) == 0) {
    return absl::UnavailableError(
        absl::StrCat("the provider's database is unavailable: ", message));
  }
  return absl::InternalError(
      absl::StrCat("the provider's database failed (SQLSTATE ",
                   code.empty() ? "none" : code, "): ", message));
}

std::string ConninfoUser(const std::string& conninfo) {
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
  if (options == nullptr) return "";
  std::string user;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "user" && o->val != nullptr) user = o->val;
  }
  PQconninfoFree(options);
  return user;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::healthy() const {
  return PQstatus(conn_) == CONNECTION_OK &&
         PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

const std::string* PgConnection::PreparedName(const std::string& sql) const {
  auto it = prepared_.find(sql);
  return it == prepared_.end() ? nullptr : &it->second;
}

std::string PgConnection::NameFor(const std::string& sql) const {
  (void)sql;
  return prepared_.size() < kMaxPrepared ? absl::StrCat("dx", prepared_.size())
                                         : std::string();  // unnamed
}

void PgConnection::Prepared(const std::string& sql, const std::string& name) {
  if (!name.empty()) prepared_.emplace(sql, name);
}

std::string PgConnection::TimeoutStatement(absl::Duration timeout) const {
  const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout));
  if (timeout_ms_ > 0 && std::abs(timeout_ms_ - ms) * 10 <= timeout_ms_) {
    return "";
  }
  return absl::StrCat("SET statement_timeout = ", ms);
}

void PgConnection::TimeoutSet(absl::Duration timeout) {
  timeout_ms_ = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout));
}

bool PgConnection::ClosedByServer() {
  if (PQstatus(conn_) != CONNECTION_OK) return true;
  // An idle connection has nothing to read unless the server sent its
  // goodbye (FATAL: terminating connection) or closed the socket.
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (poll(&fd, 1, 0) <= 0) return false;
  if (!PQconsumeInput(conn_)) return true;
  return PQstatus(conn_) != CONNECTION_OK;
}

PgPool::PgPool(Options options) : options_(std::move(options)) {}

PgPool::~PgPool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

PgPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_));
}

void PgPool::Release(std::unique_ptr<PgConnection> conn) {
  const bool healthy = conn->healthy();
  const bool broken = PQstatus(conn->get()) == CONNECTION_BAD;
  if (!healthy) conn.reset();  // broken: closed, reopened by a later Acquire
  {
    absl::MutexLock lock(&mu_);
    if (healthy) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  // A connection the server dropped: the idle ones most likely went with
  // it (a restart), so the caller's one retry must get a new connection.
  if (broken) DropClosedIdle(/*all=*/true);
}

void PgPool::DropClosedIdle(bool all) {
  std::vector<std::unique_ptr<PgConnection>> dropped;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (all || (*it)->ClosedByServer()) {
        dropped.push_back(std::move(*it));
        it = idle_.erase(it);
        --open_;
      } else {
        ++it;
      }
    }
  }
  // PQfinish outside the lock (it may write a Terminate message).
  dropped.clear();
}

int PgPool::open_connections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgPool::Connect() const {
  const std::string timeout = absl::StrCat(options_.connect_timeout_s);
  // dbname first with expand_dbname: the connection string's settings,
  // then ours, which win.
  std::vector<const char*> keys = {"dbname", "options", "client_encoding",
                                   "application_name", "connect_timeout"};
  std::vector<const char*> values = {options_.conninfo.c_str(), kSessionOptions,
                                     "UTF8", "dx-sql-adapter", timeout.c_str()};
  if (!options_.password.empty()) {
    keys.push_back("password");
    values.push_back(options_.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError(
        "libpq could not allocate a connection");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = ErrorOf(conn);
    PQfinish(conn);
    return absl::UnavailableError(
        absl::StrCat("cannot connect to the provider's database (", error,
                     "); the adapter retries on the next request"));
  }
  // Notices and warnings go through the adapter's log (its format), not
  // libpq's default of raw lines on stderr.
  PQsetNoticeProcessor(conn, &LogNotice, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire(absl::Time deadline) {
  deadline = std::min(deadline, absl::Now() + options_.acquire_timeout);
  // One poll each, without blocking: connections the server closed while
  // idle are dropped here rather than failing a request.
  DropClosedIdle(/*all=*/false);
  mu_.Lock();
  auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || open_ < options_.size;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&can_proceed), deadline)) {
    const int size = options_.size;
    mu_.Unlock();
    return absl::UnavailableError(absl::StrCat(
        "all ", size,
        " database connections of the adapter are busy; retry later, or "
        "raise database.pool_size in the adapter's config if the database "
        "has room"));
  }
  if (!idle_.empty()) {
    std::unique_ptr<PgConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    mu_.Unlock();
    return Lease(this, std::move(conn));
  }
  ++open_;  // reserve a slot, then connect without holding the lock
  mu_.Unlock();
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = Connect();
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Lease(this, *std::move(conn));
}

}  // namespace dx::adapters
