// SqlSource: a DataSource over one PostgreSQL table or view. Each request
// becomes one prepared, parameterised SELECT (SqlQueryPlan) run in
// single-row mode, so rows are read and emitted in batches in bounded
// memory whatever the result's size. The
// source waits on the server's socket itself: when the gateway goes away or its
// deadline passes, the query is cancelled on the server. Thread-safe.
#ifndef DX_ADAPTERS_SQL_SQL_SOURCE_H_
#define DX_ADAPTERS_SQL_SQL_SOURCE_H_

#include <memory>
#include <vector>

#include "adapters/sdk/data_source.h"
#include "adapters/sql/pg_pool.h"
#include "adapters/sql/sql_query.h"

namespace dx::adapters {

class SqlSource final : public DataSource {
 public:
  // `pool` is shared by the datasets of one database and outlives this.
  SqlSource(SqlQueryPlan plan, PgPool* pool, absl::Duration max_statement)
      : plan_(std::move(plan)), pool_(pool), max_statement_(max_statement) {}

  absl::Status Fetch(const v1::AdapterRequest& request,
                     const FetchContext& context,
                     const Emit& emit) const override;
  // Reached only for a dataset without a change_feed (SqlChangeFeed
  // serves the others): UNIMPLEMENTED, saying how to configure one.
  absl::Status Changes(const v1::ChangesRequest& request,
                       const FetchContext& context,
                       const EmitChanges& emit) const override;

 private:
  class Waiter;

  // One attempt on one connection; `*emitted` tells whether any row went
  // out (a failed attempt that sent nothing may be retried). The prepared
  // statement runs in single-row mode: the server streams rows while the
  // gateway takes them (a cursor's FETCH round trips measured slower).
  absl::Status Run(const SqlStatement& st, PgConnection& conn,
                   uint32_t batch_rows, const FetchContext& context,
                   const Emit& emit, bool* emitted) const;
  // The statement_timeout for a call: what is left of its deadline, at
  // most max_statement_ unless it streams.
  absl::StatusOr<absl::Duration> TimeoutFor(const FetchContext& context) const;
  // Appends the rows of `r`; `types` caches the columns' type OIDs.
  static void AppendRows(const pg_result* r, std::vector<unsigned>* types,
                         v1::RecordBatch* batch);

  const SqlQueryPlan plan_;
  PgPool* const pool_;
  const absl::Duration max_statement_;
};

// A value as PostgreSQL's text output gives it, in the dataset's
// documented format: booleans true/false, timestamps ISO 8601 with T (and
// Z in UTC); numbers, dates and text as they are.
std::string FormatPgValue(unsigned int type_oid, const char* text, int len);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SQL_SQL_SOURCE_H_
