#include "adapters/sql/sql_query.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/utf8.h"

namespace dx::adapters {
namespace {

// Longest query value accepted (a key is an id, a name or a date).
constexpr size_t kMaxValueBytes = 1024;

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool IsInteger(absl::string_view s) {
  absl::ConsumePrefix(&s, "-");
  return AllDigits(s) && s.size() <= 18;
}

bool IsDecimal(absl::string_view s) {
  absl::ConsumePrefix(&s, "-");
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(s, absl::MaxSplits('.', 1));
  if (!AllDigits(parts.first) || parts.first.size() > 40) return false;
  return parts.second.empty()
             ? !absl::EndsWith(s, ".")
             : AllDigits(parts.second) && parts.second.size() <= 40;
}

// YYYY-MM-DD (the server checks the calendar).
bool IsDate(absl::string_view s) {
  return s.size() == 10 && s[4] == '-' && s[7] == '-' &&
         AllDigits(s.substr(0, 4)) && AllDigits(s.substr(5, 2)) &&
         AllDigits(s.substr(8, 2));
}

// ISO 8601: a date, then optionally THH:MM[:SS[.ffffff]] and Z or +HH[:MM].
bool IsTimestamp(absl::string_view s) {
  if (s.size() < 10 || !IsDate(s.substr(0, 10))) return false;
  s.remove_prefix(10);
  if (s.empty()) return true;
  if (s[0] != 'T' && s[0] != ' ') return false;
  s.remove_prefix(1);
  auto two_digits = [&s]() {
    if (s.size() < 2 || !AllDigits(s.substr(0, 2))) return false;
    s.remove_prefix(2);
    return true;
  };
  if (!two_digits() || !absl::ConsumePrefix(&s, ":") || !two_digits()) {
    return false;
  }
  if (absl::ConsumePrefix(&s, ":")) {
    if (!two_digits()) return false;
    if (absl::ConsumePrefix(&s, ".")) {
      size_t n = 0;
      while (n < s.size() && absl::ascii_isdigit(s[n])) ++n;
      if (n == 0 || n > 6) return false;
      s.remove_prefix(n);
    }
  }
  if (s.empty() || s == "Z") return true;
  if (s[0] != '+' && s[0] != '-') return false;
  s.remove_prefix(1);
  if (!two_digits()) return false;
  absl::ConsumePrefix(&s, ":");
  return s.empty() || (two_digits() && s.empty());
}

// The SQL cast of each key type, and the check of its values.
struct KeyType {
  const char* name;
  const char* cast;
  bool (*valid)(absl::string_view);
  const char* expected;
};
constexpr KeyType kKeyTypes[] = {
    {"text", "text", nullptr, "text"},
    {"integer", "bigint", IsInteger, "an integer such as 42"},
    {"numeric", "numeric", IsDecimal, "a decimal number such as 12.50"},
    {"date", "date", IsDate, "a date as YYYY-MM-DD"},
    {"timestamp", "timestamptz", IsTimestamp,
     "an ISO 8601 time such as 2025-07-01T08:30:00Z"},
    {"boolean", "boolean",
     [](absl::string_view s) { return s == "true" || s == "false"; },
     "true or false"},
};

const KeyType* FindType(absl::string_view name) {
  if (name.empty()) name = "text";
  for (const KeyType& t : kKeyTypes)
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace

absl::StatusOr<std::string> QuoteIdentifier(absl::string_view name) {
  if (name.empty() || absl::StrContains(name, '\0') || !IsValidUtf8(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is not a usable SQL name"));
  }
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

std::string LikePrefixPattern(absl::string_view prefix) {
  std::string out;
  out.reserve(prefix.size() + 1);
  for (char c : prefix) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

absl::StatusOr<SqlQueryPlan> SqlQueryPlan::Compile(
    const v1::SqlDataset& dataset) {
  SqlQueryPlan plan;
  plan.dataset_id_ = dataset.dataset_id();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", dataset.dataset_id(), "': ", what));
  };
  if (dataset.dataset_id().empty()) {
    return absl::InvalidArgumentError("a dataset without dataset_id");
  }
  std::vector<std::string> table_parts;
  for (absl::string_view part : absl::StrSplit(dataset.table(), '.')) {
    auto quoted = QuoteIdentifier(part);
    if (!quoted.ok()) {
      return bad(absl::StrCat("table '", dataset.table(),
                              "' is not a table name (use table or "
                              "schema.table)"));
    }
    table_parts.push_back(*std::move(quoted));
  }
  if (table_parts.size() > 2) {
    return bad(
        absl::StrCat("table '", dataset.table(), "': at most one schema name"));
  }
  plan.table_ = absl::StrJoin(table_parts, ".");
  if (dataset.fields().empty()) return bad("no fields");
  for (const auto& f : dataset.fields()) {
    for (const Field& seen : plan.fields_) {
      if (seen.name == f.name()) {
        return bad(absl::StrCat("field '", f.name(), "' listed twice"));
      }
    }
    auto column = QuoteIdentifier(f.column().empty() ? f.name() : f.column());
    if (f.name().empty() || !column.ok()) {
      return bad(absl::StrCat("field '", f.name(), "': no usable column"));
    }
    plan.fields_.push_back({f.name(), *std::move(column)});
  }
  auto column_of = [&plan](const std::string& field) -> const std::string* {
    for (const Field& f : plan.fields_)
      if (f.name == field) return &f.column;
    return nullptr;
  };
  for (const auto& k : dataset.query_keys()) {
    const std::string* column = column_of(k.field());
    if (column == nullptr) {
      return bad(absl::StrCat("query key '", k.field(),
                              "' is not one of the dataset's fields"));
    }
    const KeyType* type = FindType(k.type());
    if (type == nullptr) {
      return bad(absl::StrCat("query key '", k.field(), "': unknown type '",
                              k.type(),
                              "' (text, integer, numeric, date, timestamp, "
                              "boolean)"));
    }
    if (k.prefix() && std::string(type->name) != "text") {
      return bad(
          absl::StrCat("query key '", k.field(), "': prefix needs type text"));
    }
    plan.keys_.push_back(
        {k.field(), *column, type->name, k.required(), k.prefix(), k.range()});
  }
  std::vector<std::string> order;
  for (const auto& f : dataset.order_by()) {
    const std::string* column = column_of(f);
    if (column == nullptr) {
      return bad(absl::StrCat("order_by '", f, "' is not a field"));
    }
    order.push_back(*column);
  }
  if (!order.empty()) {
    plan.order_by_ = absl::StrCat(" ORDER BY ", absl::StrJoin(order, ", "));
  }
  if (dataset.batch_rows() != 0) plan.batch_rows_ = dataset.batch_rows();
  return plan;
}

const SqlQueryPlan::Key* SqlQueryPlan::FindKey(absl::string_view query_key,
                                               Op* op) const {
  for (const Key& k : keys_) {
    if (query_key == k.field) {
      *op = Op::kEq;
      return &k;
    }
  }
  const size_t dot = query_key.rfind('.');
  if (dot == absl::string_view::npos) return nullptr;
  const absl::string_view field = query_key.substr(0, dot);
  const absl::string_view suffix = query_key.substr(dot + 1);
  for (const Key& k : keys_) {
    if (field != k.field) continue;
    if (k.prefix && suffix == "prefix") {
      *op = Op::kPrefix;
      return &k;
    }
    if (k.range && (suffix == "from" || suffix == "to")) {
      *op = suffix == "from" ? Op::kFrom : Op::kTo;
      return &k;
    }
  }
  return nullptr;
}

std::string SqlQueryPlan::AcceptedKeys() const {
  std::vector<std::string> names;
  for (const Key& k : keys_) {
    names.push_back(k.field);
    if (k.prefix) names.push_back(k.field + ".prefix");
    if (k.range) {
      names.push_back(k.field + ".from");
      names.push_back(k.field + ".to");
    }
  }
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

absl::StatusOr<SqlStatement> SqlQueryPlan::Build(
    const v1::AdapterRequest& request) const {
  SqlStatement st;
  std::vector<std::string> select;
  if (request.fields().empty()) {
    for (const Field& f : fields_) {
      st.fields.push_back(f.name);
      select.push_back(f.column);
    }
  } else {
    for (const std::string& name : request.fields()) {
      const Field* found = nullptr;
      for (const Field& f : fields_)
        if (f.name == name) found = &f;
      if (found == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown field '", name, "' in dataset ", dataset_id_));
      }
      st.fields.push_back(found->name);
      select.push_back(found->column);
    }
  }
  // The query map is unordered: sort its keys so one request shape always
  // gives one statement text (and one prepared statement).
  std::vector<std::pair<std::string, const std::string*>> query;
  for (const auto& [key, value] : request.query())
    query.emplace_back(key, &value);
  std::sort(query.begin(), query.end());
  std::vector<std::string> where;
  std::vector<const Key*> given;
  for (const auto& [key, value] : query) {
    Op op;
    const Key* k = FindKey(key, &op);
    if (k == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown query key '", key, "' for dataset ",
                       dataset_id_, "; it accepts: ", AcceptedKeys()));
    }
    if (value->size() > kMaxValueBytes || absl::StrContains(*value, '\0') ||
        !IsValidUtf8(*value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query key '", key, "': the value must be UTF-8 text of at most ",
          kMaxValueBytes, " bytes with no NUL character"));
    }
    const KeyType* type = FindType(k->type);
    if (type->valid != nullptr && !type->valid(*value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("query key '", key, "': expected ", type->expected));
    }
    const size_t n = st.params.size() + 1;
    switch (op) {
      case Op::kEq:
        st.params.push_back(*value);
        where.push_back(absl::StrCat(k->column, " = $", n, "::", type->cast));
        break;
      case Op::kPrefix:
        st.params.push_back(LikePrefixPattern(*value));
        where.push_back(
            absl::StrCat(k->column, " LIKE $", n, "::text ESCAPE '\\'"));
        break;
      case Op::kFrom:
      case Op::kTo:
        st.params.push_back(*value);
        where.push_back(absl::StrCat(k->column,
                                     op == Op::kFrom ? " >= $" : " <= $", n,
                                     "::", type->cast));
        break;
    }
    given.push_back(k);
  }
  for (const Key& k : keys_) {
    if (k.required &&
        std::find(given.begin(), given.end(), &k) == given.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query key '", k.field, "' is required for dataset ", dataset_id_));
    }
  }
  st.text =
      absl::StrCat("SELECT ", absl::StrJoin(select, ", "), " FROM ", table_);
  if (!where.empty()) {
    absl::StrAppend(&st.text, " WHERE ", absl::StrJoin(where, " AND "));
  }
  absl::StrAppend(&st.text, order_by_);
  if (request.max_records() != 0) {
    // One more than asked, so the caller can tell that more matched.
    st.params.push_back(absl::StrCat(uint64_t{request.max_records()} + 1));
    absl::StrAppend(&st.text, " LIMIT $", st.params.size(), "::bigint");
  }
  return st;
}

}  // namespace dx::adapters
