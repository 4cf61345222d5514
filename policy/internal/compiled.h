// The compiled form of a dataset's policy, shared by the compiler
// (compile.cc) and the evaluator (snapshot.cc). Private to policy/.
#ifndef DX_POLICY_INTERNAL_COMPILED_H_
#define DX_POLICY_INTERNAL_COMPILED_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "policy/field_set.h"
#include "policy/row_filter.h"
#include "policy/snapshot.h"

namespace dx::policy {

// Which agencies a rule names: codes, and code prefixes (patterns ending
// in "*", groups expanded).
struct ConsumerSet {
  bool everyone = false;
  absl::flat_hash_set<std::string> codes;
  std::vector<std::string> prefixes;

  bool Contains(absl::string_view code) const {
    if (everyone || codes.contains(code)) return true;
    for (const auto& p : prefixes)
      if (absl::StartsWith(code, p)) return true;
    return false;
  }
};

struct PurposeSet {
  bool any = false;
  std::vector<std::string> codes;
  bool Contains(absl::string_view p) const {
    if (any) return true;
    for (const auto& c : codes)
      if (c == p) return true;
    return false;
  }
};

struct CompiledGrant {
  const v1::Grant* proto = nullptr;  // in the snapshot's document
  // Copied from the proto: what every decision reads stays in one place.
  std::string id;
  std::string legal_basis;
  bool require_subject_id = false;
  bool require_consent = false;
  uint32_t requests_per_minute = 0;
  uint64_t records_per_day = 0;
  ConsumerSet consumers;
  PurposeSet purposes;
  uint32_t operations = 0;  // bit per v1::Operation
  uint32_t modes = 0;       // bit per v1::AccessMode
  FieldSet fields;
  std::vector<MaskSpec> masks;
  std::shared_ptr<const RowFilter> row_filter;
  FieldSet filter_fields;
  // Fields served masked: matched by equality only (never prefix or range).
  FieldSet masked;
  // Per declared query key (the dataset's query_keys order): the operators
  // (bit per registry::QueryOp) this grant names in its query_keys.
  std::vector<uint8_t> extra_query_ops;
  absl::Time valid_from = absl::InfinitePast();
  absl::Time valid_until = absl::InfiniteFuture();
};

struct CompiledForbid {
  const v1::Forbid* proto = nullptr;
  ConsumerSet consumers;
  PurposeSet purposes;
  bool whole_dataset = true;
  FieldSet fields;
};

// Owns its policy (rules point into it), so that snapshots can share it.
// Immutable once compiled.
struct PolicySnapshot::CompiledDataset {
  const v1::Dataset* dataset = nullptr;  // in the snapshot's registry
  bool has_policy = false;
  v1::DatasetPolicy policy;
  std::vector<std::string> field_names;  // schema order
  absl::flat_hash_map<std::string, uint32_t> field_index;
  // Every field but the state-secret ones: "all fields" never includes a
  // state secret.
  FieldSet all;
  FieldSet personal;  // personal or sensitive_personal
  // The dataset, or these fields, are marked state_secret in the registry.
  bool state_secret = false;
  FieldSet secret;
  // The field each declared query key reads (the registry's query_keys
  // order).
  std::vector<uint32_t> query_key_fields;
  std::vector<CompiledGrant> grants;
  std::vector<CompiledForbid> forbids;
  // Grants naming an agency code (directly or through a group), in order;
  // grants with patterns are checked for every request.
  absl::flat_hash_map<std::string, std::vector<uint32_t>> grants_by_code;
  std::vector<uint32_t> pattern_grants;
};

}  // namespace dx::policy

#endif  // DX_POLICY_INTERNAL_COMPILED_H_
