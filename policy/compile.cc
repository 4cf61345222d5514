// PolicySnapshot::Compile: checks a full policy document against the
// registry and builds the indexes the evaluator uses. Every problem is
// reported with its path, so that the admin service can name file and line.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/identity.h"
#include "policy/internal/compiled.h"
#include "policy/internal/rule_compiler.h"
#include "registry/query_keys.h"

namespace dx::policy {
using internal::Compiler;
using internal::HasTag;

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
  ds->state_secret = d.state_secret();
  ds->secret = FieldSet(ds->field_names.size());
  for (int i = 0; i < d.fields_size(); ++i) {
    if (d.fields(i).state_secret()) ds->secret.Add(i);
  }
  ds->all = FieldSet::All(ds->field_names.size()).Minus(ds->secret);
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
    uint64_t revision, absl::Time now, std::vector<PolicyProblem>* problems,
    bool tolerate_state_secret_grants) {
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
  compiler.TolerateStateSecretGrants(tolerate_state_secret_grants);
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
