// Query keys: the keys a consumer may put in a request's `query`, as the
// registry declares them per dataset (v1::QueryKey). One declared key
// accepts up to four names: KEY (equality), KEY.prefix, KEY.from and KEY.to.
// The gateway resolves every name of a request here before anything is
// forwarded (an undeclared one is refused whatever the adapter), and the
// sharing policy decides which of them a consumer may use. Stateless;
// thread-safe.
#ifndef DX_REGISTRY_QUERY_KEYS_H_
#define DX_REGISTRY_QUERY_KEYS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "dx/v1/registry.pb.h"

namespace dx::registry {

enum class QueryOp { kEquals = 0, kPrefix = 1, kRange = 2 };

// "equality", "prefix", "range".
absl::string_view QueryOpName(QueryOp op);

// A query name resolved: the declared key, its index in the dataset's
// query_keys, and the operator the name asks for.
struct QueryKeyUse {
  const v1::QueryKey* key = nullptr;
  int index = -1;
  QueryOp op = QueryOp::kEquals;
};

// The key's name: `key`, or the field's name when unset.
const std::string& QueryKeyName(const v1::QueryKey& key);

// Resolves `name` ("citizen_id", "full_name.prefix", "birth_date.from")
// against `dataset`'s declared keys; nullopt when the dataset does not
// accept it.
absl::optional<QueryKeyUse> ResolveQueryKey(const v1::Dataset& dataset,
                                            absl::string_view name);

// Every name `dataset` accepts, in declaration order, for messages.
std::vector<std::string> AcceptedQueryKeys(const v1::Dataset& dataset);

// "accepted keys: a, b.prefix" or "it accepts no query keys".
std::string AcceptedQueryKeysText(const v1::Dataset& dataset);

// Checks a dataset's declared keys: the field is set and in the schema, the
// name is made of letters, digits, '_' and '-', and no name is accepted
// twice. The error names the key's index ("query_keys[1].field: ...").
absl::Status ValidateQueryKeys(const v1::Dataset& dataset);

}  // namespace dx::registry

#endif  // DX_REGISTRY_QUERY_KEYS_H_
