// PolicySnapshot::Compile: checks a full policy document against the
// registry and builds the indexes the evaluator uses. Every problem is
// reported with its path, so that the admin service can name file and line.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/identity.h"
#include "policy/internal/compiled.h"
#include "policy/internal/lint.h"
#include "registry/query_keys.h"

namespace dx::policy {
namespace {

bool HasTag(const v1::FieldSpec& f, absl::string_view tag) {
  return std::find(f.tags().begin(), f.tags().end(), tag) != f.tags().end();
}

absl::Status ParseTime(const std::string& text, absl::Time* out) {
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, out, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text,
        "' is not an RFC 3339 time such as 2025-07-01T00:00:00+07:00"));
  }
  return absl::OkStatus();
}

class Compiler {
 public:
  Compiler(const v1::Registry& registry, absl::Time now,
           std::vector<PolicyProblem>* problems)
      : registry_(registry), now_(now), problems_(problems) {
    for (const auto& a : registry.agencies()) agencies_.insert(a.code());
  }

  bool failed() const { return errors_ > 0; }

  void Error(const std::string& path, std::string message) {
    ++errors_;
    if (problems_ && !muted_)
      problems_->push_back({true, path, std::move(message)});
  }
  void Warn(const std::string& path, std::string message) {
    if (problems_ && !muted_)
      problems_->push_back({false, path, std::move(message)});
  }
  // While muted, problems are counted but not reported (a stored part that
  // was reported when it was applied).
  void Mute(bool muted) { muted_ = muted; }

  // Groups first: grants and forbids refer to them.
  void Directory(
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
        Error(path + ".agency",
              absl::StrCat("'", a.agency(),
                           "' is not an electronic agency code"));
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

  // Adds one consumer spec (code, pattern, group) to `set`.
  void AddCode(const std::string& spec, const std::string& path,
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
          Error(path,
                absl::StrCat("pattern '", spec,
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

  void Purposes(const google::protobuf::RepeatedPtrField<std::string>& in,
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

  bool Fields(const PolicySnapshot::CompiledDataset& ds,
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

  void Grant(PolicySnapshot::CompiledDataset* ds, const v1::Grant& g,
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
        Error(mpath + ".field",
              absl::StrCat("dataset ", ds->dataset->id(), " has no field '",
                           m.field(), "'"));
        continue;
      }
      if (!c.fields.Has(it->second)) {
        Error(mpath + ".field", absl::StrCat("field '", m.field(),
                                             "' is masked but not granted"));
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
            Error(path + ".row_filter",
                  absl::StrCat("the row filter reads '", f,
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
    ds->grants.push_back(std::move(c));
  }

  // The grant's explicit query_keys, checked against the registry's.
  void QueryKeys(const PolicySnapshot::CompiledDataset& ds, const v1::Grant& g,
                 const std::string& path, CompiledGrant* c) {
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

  void Forbid(PolicySnapshot::CompiledDataset* ds, const v1::Forbid& f,
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

  // The lint pass (lint.cc) only warns: nothing to do while muted.
  void Lint(const PolicySnapshot::CompiledDataset& ds,
            const std::string& path) {
    if (problems_ == nullptr || muted_) return;
    LintDataset(ds, path, problems_);
  }

  const v1::Registry& registry_;
  const absl::Time now_;
  std::vector<PolicyProblem>* const problems_;
  int errors_ = 0;
  bool muted_ = false;
  absl::flat_hash_set<std::string> agencies_;
  absl::flat_hash_map<std::string, ConsumerSet> groups_;
};

}  // namespace

bool TwoPersonRule(const v1::Dataset& dataset,
                   const v1::DatasetPolicy* policy) {
  if (policy != nullptr && policy->has_two_person_rule()) {
    return policy->two_person_rule();
  }
  if (dataset.category() == v1::DATA_CATEGORY_PRIVATE) return true;
  for (const auto& f : dataset.fields()) {
    if (HasTag(f, "important") || HasTag(f, "core")) return true;
  }
  return false;
}

PolicySnapshot::~PolicySnapshot() = default;

const std::shared_ptr<const PolicySnapshot::CompiledDataset>&
PolicySnapshot::FindShared(const std::string& dataset) const {
  static const std::shared_ptr<const CompiledDataset> kNone;
  if (!overrides_.empty()) {
    if (auto it = overrides_.find(dataset); it != overrides_.end())
      return it->second;
  }
  auto it = datasets_->find(dataset);
  return it == datasets_->end() ? kNone : it->second;
}

const v1::DatasetPolicy* PolicySnapshot::PolicyOf(
    const std::string& dataset) const {
  const CompiledDataset* ds = Find(dataset);
  if (ds == nullptr || !ds->has_policy) return nullptr;
  return &ds->policy;
}

namespace {

// Compiles one dataset's policy (null: none) into a new CompiledDataset.
std::shared_ptr<PolicySnapshot::CompiledDataset> CompileDataset(
    Compiler* compiler, const v1::Dataset& d, const v1::DatasetPolicy* policy,
    const std::string& path) {
  auto ds = std::make_shared<PolicySnapshot::CompiledDataset>();
  ds->dataset = &d;
  for (const auto& f : d.fields()) {
    ds->field_index[f.name()] = ds->field_names.size();
    ds->field_names.push_back(f.name());
  }
  ds->all = FieldSet::All(ds->field_names.size());
  // The registry checked that every key's field is in the schema.
  for (const auto& k : d.query_keys()) {
    ds->query_key_fields.push_back(ds->field_index.at(k.field()));
  }
  ds->personal = FieldSet(ds->field_names.size());
  for (int i = 0; i < d.fields_size(); ++i) {
    if (HasTag(d.fields(i), "personal") ||
        HasTag(d.fields(i), "sensitive_personal")) {
      ds->personal.Add(i);
    }
  }
  if (policy == nullptr ||
      (policy->grants().empty() && policy->forbids().empty() &&
       !policy->has_two_person_rule())) {
    return ds;  // category defaults only
  }
  ds->has_policy = true;
  ds->policy = *policy;  // rules below point into this copy
  const v1::DatasetPolicy& p = ds->policy;
  absl::flat_hash_set<std::string> ids;
  auto check_id = [&](const std::string& id, const std::string& rpath) {
    if (id.empty()) {
      compiler->Error(rpath + ".id",
                      "every rule needs an id (cited in decisions and audit "
                      "records)");
    } else if (!ids.insert(id).second) {
      compiler->Error(
          rpath + ".id",
          absl::StrCat("rule id '", id, "' is used twice in ", p.dataset()));
    }
  };
  ds->grants.reserve(p.grants_size());
  for (int g = 0; g < p.grants_size(); ++g) {
    const std::string gpath = absl::StrCat(path, ".grants[", g, "]");
    check_id(p.grants(g).id(), gpath);
    compiler->Grant(ds.get(), p.grants(g), gpath);
  }
  for (int f = 0; f < p.forbids_size(); ++f) {
    const std::string fpath = absl::StrCat(path, ".forbids[", f, "]");
    check_id(p.forbids(f).id(), fpath);
    compiler->Forbid(ds.get(), p.forbids(f), fpath);
  }
  compiler->Lint(*ds, path);
  for (uint32_t g = 0; g < ds->grants.size(); ++g) {
    const CompiledGrant& grant = ds->grants[g];
    if (grant.consumers.everyone || !grant.consumers.prefixes.empty()) {
      ds->pattern_grants.push_back(g);
    }
    for (const auto& code : grant.consumers.codes) {
      ds->grants_by_code[code].push_back(g);
    }
  }
  return ds;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const PolicySnapshot>> PolicySnapshot::Compile(
    std::shared_ptr<const registry::Registry> registry,
    const v1::PolicyDocument& changes, const PolicySnapshot* base,
    uint64_t revision, absl::Time now, std::vector<PolicyProblem>* problems) {
  std::vector<PolicyProblem> local;
  if (problems == nullptr) problems = &local;
  const size_t first_problem = problems->size();
  auto snap = std::shared_ptr<PolicySnapshot>(new PolicySnapshot());
  snap->revision_ = revision;
  snap->version_ = absl::StrCat("r", revision);
  snap->registry_ = std::move(registry);
  // Against another registry, every stored policy is compiled again: a
  // dataset's fields, or the agencies a grant names, may have changed.
  const bool new_registry =
      base != nullptr && base->registry_ != snap->registry_;
  const bool new_directory =
      base == nullptr || changes.has_directory() || new_registry;
  snap->directory_ =
      base == nullptr || changes.has_directory()
          ? std::make_shared<const v1::PolicyDirectory>(changes.directory())
          : base->directory_;
  const v1::Registry& reg = snap->registry_->proto();
  Compiler compiler(reg, now, problems);
  compiler.Mute(!new_directory);
  if (new_directory) {
    auto attributes = std::make_shared<PolicySnapshot::AgencyAttributes>();
    compiler.Directory(*snap->directory_, attributes.get());
    snap->attributes_ = std::move(attributes);
  } else {
    compiler.Directory(*snap->directory_, nullptr);  // its groups only
    snap->attributes_ = base->attributes_;
  }
  compiler.Mute(false);

  // Which policies change, by dataset id.
  auto is_registered = [&](const std::string& id) {
    return snap->registry_->FindDataset(id) != nullptr;
  };
  absl::flat_hash_map<std::string, int> changed;
  for (int i = 0; i < changes.datasets_size(); ++i) {
    const v1::DatasetPolicy& p = changes.datasets(i);
    const std::string path = absl::StrCat("datasets[", i, "]");
    if (!is_registered(p.dataset())) {
      compiler.Error(path + ".dataset",
                     absl::StrCat("dataset '", p.dataset(),
                                  "' is not in the registry; check the id or "
                                  "add the dataset to the registry first"));
      continue;
    }
    if (!changed.emplace(p.dataset(), i).second) {
      compiler.Error(path + ".dataset",
                     absl::StrCat("dataset ", p.dataset(),
                                  " has two policies in this document"));
    }
  }
  auto compile_changed = [&](const v1::Dataset& d, int index) {
    return CompileDataset(&compiler, d, &changes.datasets(index),
                          absl::StrCat("datasets[", index, "]"));
  };
  if (base != nullptr && !new_directory &&
      base->overrides_.size() + changed.size() <= kMaxOverrides) {
    // The common case: share base's map, note what changed on the side.
    // (Building a new map of every dataset costs a large allocation per
    // change, slow on a big, fragmented heap.)
    snap->datasets_ = base->datasets_;
    snap->overrides_ = base->overrides_;
    for (const v1::Dataset& d : reg.datasets()) {
      if (auto c = changed.find(d.id()); c != changed.end())
        snap->overrides_[d.id()] = compile_changed(d, c->second);
    }
  } else {
    auto all = std::make_shared<DatasetMap>();
    all->reserve(reg.datasets_size());
    for (const v1::Dataset& d : reg.datasets()) {
      if (auto c = changed.find(d.id()); c != changed.end()) {
        (*all)[d.id()] = compile_changed(d, c->second);
      } else if (base != nullptr && !new_directory) {
        (*all)[d.id()] = base->FindShared(d.id());  // shared as is
      } else {
        const v1::DatasetPolicy* stored =
            base ? base->PolicyOf(d.id()) : nullptr;
        (*all)[d.id()] =
            CompileDataset(&compiler, d, stored, "stored:" + d.id());
      }
    }
    snap->datasets_ = std::move(all);
  }
  if (compiler.failed()) {
    std::string first;
    for (size_t i = first_problem; i < problems->size(); ++i) {
      if ((*problems)[i].error) {
        first = absl::StrCat((*problems)[i].path, ": ", (*problems)[i].message);
        break;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("the policy has errors; the first: ", first));
  }
  return std::shared_ptr<const PolicySnapshot>(std::move(snap));
}

}  // namespace dx::policy
