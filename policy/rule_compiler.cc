// The rule compiler's checks of a directory, its grants and forbids
// (internal/rule_compiler.h).
#include "policy/internal/rule_compiler.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "certs/identity.h"
#include "registry/query_keys.h"

namespace dx::policy::internal {

absl::Status ParseTime(const std::string& text, absl::Time* out) {
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, out, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text,
        "' is not an RFC 3339 time such as 2025-07-01T00:00:00+07:00"));
  }
  return absl::OkStatus();
}

void Compiler::Directory(
    const v1::PolicyDirectory& dir,
    absl::flat_hash_map<std::string,
                        absl::flat_hash_map<std::string, std::string>>*
        attributes) {
  for (int i = 0; i < dir.groups_size(); ++i) {
    const auto& g = dir.groups(i);
    const std::string path = absl::StrCat("directory.groups[", i, "]");
    if (g.name().empty()) {
      Error(path + ".name", "a group needs a name (used as group:NAME)");
      continue;
    }
    if (groups_.contains(g.name())) {
      Error(path + ".name",
            absl::StrCat("group '", g.name(), "' is defined twice"));
      continue;
    }
    ConsumerSet set;
    for (int j = 0; j < g.members_size(); ++j) {
      AddCode(g.members(j), absl::StrCat(path, ".members[", j, "]"), &set,
              /*allow_groups=*/false);
    }
    groups_[g.name()] = std::move(set);
  }
  if (attributes == nullptr) return;  // kept from the base snapshot
  for (int i = 0; i < dir.agencies_size(); ++i) {
    const auto& a = dir.agencies(i);
    const std::string path = absl::StrCat("directory.agencies[", i, "]");
    if (!certs::IsValidAgencyCode(a.agency())) {
      Error(
          path + ".agency",
          absl::StrCat("'", a.agency(), "' is not an electronic agency code"));
      continue;
    }
    if (attributes->contains(a.agency())) {
      Error(path + ".agency",
            absl::StrCat("agency ", a.agency(), " is listed twice"));
      continue;
    }
    auto& attrs = (*attributes)[a.agency()];
    for (const auto& [k, v] : a.attributes()) attrs[k] = v;
  }
}

void Compiler::AddCode(const std::string& spec, const std::string& path,
                       ConsumerSet* set, bool allow_groups) {
  if (allow_groups && absl::StartsWith(spec, "group:")) {
    auto it = groups_.find(spec.substr(6));
    if (it == groups_.end()) {
      Error(path, absl::StrCat("unknown group '", spec.substr(6),
                               "'; define it under directory.groups"));
      return;
    }
    set->codes.insert(it->second.codes.begin(), it->second.codes.end());
    set->prefixes.insert(set->prefixes.end(), it->second.prefixes.begin(),
                         it->second.prefixes.end());
    return;
  }
  if (spec == "*") {
    set->everyone = true;
    return;
  }
  if (!spec.empty() && spec.back() == '*') {
    const std::string prefix = spec.substr(0, spec.size() - 1);
    for (char c : prefix) {
      if (!(absl::ascii_isdigit(c) || absl::ascii_isupper(c) || c == '.')) {
        Error(path, absl::StrCat("pattern '", spec,
                                 "' may hold only 0-9, A-Z and dots before *"));
        return;
      }
    }
    set->prefixes.push_back(prefix);
    return;
  }
  if (!certs::IsValidAgencyCode(spec)) {
    Error(path, absl::StrCat("'", spec,
                             "' is not an agency code (dot-separated 0-9 and "
                             "A-Z groups), a code pattern ending in * or "
                             "group:NAME"));
    return;
  }
  if (!agencies_.contains(spec)) {
    Warn(path, absl::StrCat("agency ", spec, " is not in the registry"));
  }
  set->codes.insert(spec);
}

void Compiler::Purposes(
    const google::protobuf::RepeatedPtrField<std::string>& in,
    const std::string& path, PurposeSet* out) {
  for (int i = 0; i < in.size(); ++i) {
    if (in[i] == "*") {
      out->any = true;
    } else if (in[i].empty()) {
      Error(absl::StrCat(path, "[", i, "]"), "empty purpose code");
    } else {
      out->codes.push_back(in[i]);
    }
  }
}

bool Compiler::Fields(
    const PolicySnapshot::CompiledDataset& ds,
    const google::protobuf::RepeatedPtrField<std::string>& names,
    const std::string& path, FieldSet* out) {
  bool ok = true;
  for (int i = 0; i < names.size(); ++i) {
    auto it = ds.field_index.find(names[i]);
    if (it == ds.field_index.end()) {
      Error(absl::StrCat(path, "[", i, "]"),
            absl::StrCat(
                "dataset ", ds.dataset->id(), " has no field '", names[i],
                "' (fields: ", absl::StrJoin(ds.field_names, ", "), ")"));
      ok = false;
      continue;
    }
    out->Add(it->second);
  }
  return ok;
}

void Compiler::Grant(PolicySnapshot::CompiledDataset* ds, const v1::Grant& g,
                     const std::string& path) {
  CompiledGrant c;
  c.proto = &g;
  c.id = g.id();
  c.legal_basis = g.legal_basis();
  c.require_subject_id = g.require_subject_id();
  c.require_consent = g.require_consent();
  c.requests_per_minute = g.quota().requests_per_minute();
  c.records_per_day = g.quota().records_per_day();
  if (g.consumers().empty()) {
    Error(path + ".consumers",
          "a grant must name its consumers (agency codes, patterns or "
          "group:NAME)");
  }
  for (int i = 0; i < g.consumers_size(); ++i) {
    AddCode(g.consumers(i), absl::StrCat(path, ".consumers[", i, "]"),
            &c.consumers, true);
  }
  if (g.purposes().empty()) {
    Error(path + ".purposes",
          "a grant must name its purposes (or \"*\" for any)");
  }
  Purposes(g.purposes(), path + ".purposes", &c.purposes);
  if (g.legal_basis().empty()) {
    Error(path + ".legal_basis",
          "a grant must cite its legal basis (Decree 194/2025 Art. 16)");
  }
  if (ds->dataset->category() == v1::DATA_CATEGORY_PRIVATE &&
      g.agreement().empty()) {
    Error(path + ".agreement",
          absl::StrCat("dataset ", ds->dataset->id(),
                       " is private: a grant needs the reference of the "
                       "sharing agreement with its owner"));
  }
  if (g.operations().empty()) {
    c.operations = 1u << v1::OPERATION_READ;
  }
  for (int op : g.operations()) c.operations |= 1u << op;
  // Look-ups and streams unless the grant says: a subscription pushes every
  // change for as long as it lives, so it must be granted by name.
  if (g.modes().empty()) {
    c.modes = (1u << v1::ACCESS_MODE_LOOKUP) | (1u << v1::ACCESS_MODE_STREAM);
  }
  for (int m : g.modes()) {
    if (m == v1::ACCESS_MODE_UNSPECIFIED || !v1::AccessMode_IsValid(m)) {
      Error(path + ".modes", "name each mode: lookup, stream or subscription");
      continue;
    }
    c.modes |= 1u << m;
  }
  c.fields = FieldSet(ds->field_names.size());
  if (g.fields().empty()) {
    c.fields = ds->all;
  } else {
    Fields(*ds, g.fields(), path + ".fields", &c.fields);
  }
  c.masked = FieldSet(ds->field_names.size());
  for (int i = 0; i < g.masks_size(); ++i) {
    const auto& m = g.masks(i);
    const std::string mpath = absl::StrCat(path, ".masks[", i, "]");
    auto it = ds->field_index.find(m.field());
    if (it == ds->field_index.end()) {
      Error(mpath + ".field", absl::StrCat("dataset ", ds->dataset->id(),
                                           " has no field '", m.field(), "'"));
      continue;
    }
    if (!c.fields.Has(it->second)) {
      Error(mpath + ".field",
            absl::StrCat("field '", m.field(), "' is masked but not granted"));
    }
    if (m.kind() == v1::MASK_KIND_UNSPECIFIED) {
      Error(mpath + ".kind", "say how to mask: full, partial or hash");
    }
    if (m.kind() == v1::MASK_KIND_PARTIAL && m.keep_last() == 0) {
      Error(mpath + ".keep_last",
            "a partial mask keeps some trailing characters (keep_last >= "
            "1); use kind: full to hide all");
    }
    c.masks.push_back({m.field(), m.kind(), m.keep_last()});
    c.masked.Add(it->second);
  }
  QueryKeys(*ds, g, path, &c);
  c.filter_fields = FieldSet(ds->field_names.size());
  if (!g.row_filter().empty()) {
    auto filter = RowFilter::Parse(g.row_filter());
    if (!filter.ok()) {
      Error(path + ".row_filter", std::string(filter.status().message()));
    } else {
      c.row_filter = *filter;
      for (const auto& f : c.row_filter->fields()) {
        auto it = ds->field_index.find(f);
        if (it == ds->field_index.end()) {
          Error(path + ".row_filter", absl::StrCat("the row filter reads '", f,
                                                   "', which is not "
                                                   "a field of dataset ",
                                                   ds->dataset->id()));
        } else {
          c.filter_fields.Add(it->second);
        }
      }
    }
  }
  if (!g.valid_from().empty()) {
    absl::Status s = ParseTime(g.valid_from(), &c.valid_from);
    if (!s.ok()) Error(path + ".valid_from", std::string(s.message()));
  }
  if (!g.valid_until().empty()) {
    absl::Status s = ParseTime(g.valid_until(), &c.valid_until);
    if (!s.ok()) {
      Error(path + ".valid_until", std::string(s.message()));
    } else if (c.valid_until <= now_) {
      Warn(path + ".valid_until",
           absl::StrCat("grant ", g.id(), " expired at ", g.valid_until(),
                        ": it no longer allows anything"));
    }
  }
  if (c.valid_until <= c.valid_from) {
    Error(path + ".valid_until", "valid_until must be after valid_from");
  }
  StateSecret(*ds, path, &c);
  ds->grants.push_back(std::move(c));
}

void Compiler::QueryKeys(const PolicySnapshot::CompiledDataset& ds,
                         const v1::Grant& g, const std::string& path,
                         CompiledGrant* c) {
  const v1::Dataset& d = *ds.dataset;
  c->extra_query_ops.assign(d.query_keys_size(), 0);
  for (int i = 0; i < g.query_keys_size(); ++i) {
    const std::string kpath = absl::StrCat(path, ".query_keys[", i, "]");
    auto use = registry::ResolveQueryKey(d, g.query_keys(i));
    if (!use.has_value()) {
      Error(kpath, absl::StrCat("'", g.query_keys(i),
                                "' is not a query key of this dataset; ",
                                registry::AcceptedQueryKeysText(d),
                                " (declare keys in the registry)"));
      continue;
    }
    const uint32_t field = ds.query_key_fields[use->index];
    if (use->op != registry::QueryOp::kEquals && c->masked.Has(field)) {
      Error(kpath, absl::StrCat("field '", ds.field_names[field],
                                "' is served masked: it may be matched only "
                                "by equality, not by ",
                                registry::QueryOpName(use->op)));
      continue;
    }
    c->extra_query_ops[use->index] |= 1u << static_cast<int>(use->op);
  }
}

void Compiler::Forbid(PolicySnapshot::CompiledDataset* ds, const v1::Forbid& f,
                      const std::string& path) {
  CompiledForbid c;
  c.proto = &f;
  if (f.consumers().empty()) c.consumers.everyone = true;
  for (int i = 0; i < f.consumers_size(); ++i) {
    AddCode(f.consumers(i), absl::StrCat(path, ".consumers[", i, "]"),
            &c.consumers, true);
  }
  if (f.purposes().empty()) c.purposes.any = true;
  Purposes(f.purposes(), path + ".purposes", &c.purposes);
  c.fields = FieldSet(ds->field_names.size());
  c.whole_dataset = f.fields().empty();
  Fields(*ds, f.fields(), path + ".fields", &c.fields);
  ds->forbids.push_back(std::move(c));
}

}  // namespace dx::policy::internal
