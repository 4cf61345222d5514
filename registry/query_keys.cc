#include "registry/query_keys.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace dx::registry {
namespace {

constexpr size_t kMaxKeyName = 64;

bool IsKeyName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxKeyName) return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '-')) return false;
  }
  return true;
}

void NamesOf(const v1::QueryKey& k, std::vector<std::string>* out) {
  const std::string& name = QueryKeyName(k);
  out->push_back(name);
  if (k.prefix()) out->push_back(absl::StrCat(name, ".prefix"));
  if (k.range()) {
    out->push_back(absl::StrCat(name, ".from"));
    out->push_back(absl::StrCat(name, ".to"));
  }
}

}  // namespace

absl::string_view QueryOpName(QueryOp op) {
  switch (op) {
    case QueryOp::kPrefix:
      return "prefix";
    case QueryOp::kRange:
      return "range";
    default:
      return "equality";
  }
}

const std::string& QueryKeyName(const v1::QueryKey& key) {
  return key.key().empty() ? key.field() : key.key();
}

absl::optional<QueryKeyUse> ResolveQueryKey(const v1::Dataset& dataset,
                                            absl::string_view name) {
  absl::string_view base = name;
  QueryOp op = QueryOp::kEquals;
  if (absl::ConsumeSuffix(&base, ".prefix")) {
    op = QueryOp::kPrefix;
  } else if (absl::ConsumeSuffix(&base, ".from") ||
             absl::ConsumeSuffix(&base, ".to")) {
    op = QueryOp::kRange;
  }
  for (int i = 0; i < dataset.query_keys_size(); ++i) {
    const v1::QueryKey& k = dataset.query_keys(i);
    // A declared name never holds a dot, so "a.prefix" cannot be KEY.
    if (QueryKeyName(k) != base) continue;
    if ((op == QueryOp::kPrefix && !k.prefix()) ||
        (op == QueryOp::kRange && !k.range())) {
      return absl::nullopt;
    }
    return QueryKeyUse{&k, i, op};
  }
  return absl::nullopt;
}

std::vector<std::string> AcceptedQueryKeys(const v1::Dataset& dataset) {
  std::vector<std::string> names;
  for (const auto& k : dataset.query_keys()) NamesOf(k, &names);
  return names;
}

std::string AcceptedQueryKeysText(const v1::Dataset& dataset) {
  std::vector<std::string> names = AcceptedQueryKeys(dataset);
  if (names.empty()) {
    return absl::StrCat("dataset ", dataset.id(), " accepts no query keys");
  }
  return absl::StrCat("dataset ", dataset.id(),
                      " accepts: ", absl::StrJoin(names, ", "));
}

absl::Status ValidateQueryKeys(const v1::Dataset& dataset) {
  absl::flat_hash_set<std::string> fields;
  for (const auto& f : dataset.fields()) fields.insert(f.name());
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < dataset.query_keys_size(); ++i) {
    const v1::QueryKey& k = dataset.query_keys(i);
    const std::string where = absl::StrCat("query_keys[", i, "]");
    if (k.field().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".field: must name the field of the schema the key reads"));
    }
    if (!fields.contains(k.field())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".field: dataset ", dataset.id(),
                       " has no field '", k.field(), "'"));
    }
    if (!IsKeyName(QueryKeyName(k))) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, k.key().empty() ? ".field" : ".key", ": '", QueryKeyName(k),
          "' is not a key name (1 to 64 letters, digits, '_' or '-'; set "
          "key: to name it)"));
    }
    std::vector<std::string> names;
    NamesOf(k, &names);
    for (const std::string& n : names) {
      if (!seen.insert(n).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": query key '", n, "' is declared twice"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace dx::registry
