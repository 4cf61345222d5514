// SqlQueryPlan: turns an AdapterRequest into one parameterised SELECT for a
// dataset of dx-sql-adapter. The statement's text comes only from the
// configuration (quoted identifiers) and the request's choice among the
// configured fields and query keys; every request value travels as a
// parameter ($1, $2, ...), checked first against its key's type. So nothing
// a consumer sends can change or widen the query. Pure: no database here,
// so it is unit-tested alone. Immutable and thread-safe once compiled.
#ifndef DX_ADAPTERS_SQL_SQL_QUERY_H_
#define DX_ADAPTERS_SQL_SQL_QUERY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/sql_adapter.pb.h"

namespace dx::adapters {

struct SqlStatement {
  std::string text;                 // with $1..$n placeholders
  std::vector<std::string> params;  // their values, as text
  std::vector<std::string> fields;  // the dataset fields it returns, in order
};

class SqlQueryPlan {
 public:
  // INVALID_ARGUMENT naming the dataset and what is wrong in its config.
  static absl::StatusOr<SqlQueryPlan> Compile(const v1::SqlDataset& dataset);

  // INVALID_ARGUMENT naming the field or key (and what is accepted) for an
  // unknown field or query key, a required key missing, or a value that is
  // not of its key's type.
  absl::StatusOr<SqlStatement> Build(const v1::AdapterRequest& request) const;

  const std::string& dataset_id() const { return dataset_id_; }
  uint32_t batch_rows() const { return batch_rows_; }

 private:
  struct Field {
    std::string name;
    std::string column;  // quoted
  };
  struct Key {
    std::string field;
    std::string column;  // quoted
    std::string type;    // text, integer, ...
    bool required = false, prefix = false, range = false;
  };
  // The comparison a query map key asks for.
  enum class Op { kEq, kPrefix, kFrom, kTo };

  const Key* FindKey(absl::string_view query_key, Op* op) const;
  std::string AcceptedKeys() const;

  std::string dataset_id_;
  std::string table_;  // quoted, maybe schema-qualified
  std::vector<Field> fields_;
  std::vector<Key> keys_;
  std::string order_by_;  // " ORDER BY ..." or empty
  uint32_t batch_rows_ = 500;
};

// A double-quoted SQL identifier ("a""b" for a"b). INVALID_ARGUMENT for an
// empty name or one holding a NUL byte.
absl::StatusOr<std::string> QuoteIdentifier(absl::string_view name);

// The value a LIKE pattern needs to match text starting with `prefix`
// (with ESCAPE '\'): %, _ and \ escaped, then %.
std::string LikePrefixPattern(absl::string_view prefix);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SQL_SQL_QUERY_H_
