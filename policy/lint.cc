// The lint pass of PolicySnapshot::Compile: warnings about rules that can
// never decide, grants that forbids cut into, and query keys a grant's
// consumers cannot use. It reads a dataset already compiled (and checked)
// and never refuses a policy.
#include "policy/internal/lint.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "registry/query_keys.h"

namespace dx::policy {
namespace {

// Queries the grant's consumers could send before query keys were part of
// the policy, and that are now refused: keys on fields the grant does not
// let them read, and prefix or range keys on fields it masks.
void LintQueryKeys(const PolicySnapshot::CompiledDataset& ds,
                   const CompiledGrant& g, const std::string& gpath,
                   std::vector<PolicyProblem>* warnings) {
  auto warn = [warnings](const std::string& where, std::string message) {
    warnings->push_back({false, where, std::move(message)});
  };
  std::vector<std::string> unread, masked;
  const v1::Dataset& d = *ds.dataset;
  for (int k = 0; k < d.query_keys_size(); ++k) {
    const v1::QueryKey& key = d.query_keys(k);
    const uint32_t field = ds.query_key_fields[k];
    const uint8_t extra = g.extra_query_ops[k];
    const std::string& name = registry::QueryKeyName(key);
    if (!g.fields.Has(field)) {
      if ((extra & 1u) == 0) unread.push_back(name);
    } else if (g.masked.Has(field) && (key.prefix() || key.range())) {
      if (key.prefix()) masked.push_back(name + ".prefix");
      if (key.range()) masked.push_back(name + ".from/.to");
    }
  }
  if (!unread.empty()) {
    warn(gpath + ".query_keys",
         absl::StrCat("grant ", g.id,
                      " does not let its consumers read the "
                      "field(s) that query key(s) ",
                      absl::StrJoin(unread, ", "),
                      " match: queries by them are refused "
                      "(REASON_QUERY_NOT_ALLOWED); name the keys in the "
                      "grant's query_keys if its consumers need them"));
  }
  if (!masked.empty()) {
    warn(gpath + ".masks",
         absl::StrCat("grant ", g.id, " masks the field(s) of ",
                      absl::StrJoin(masked, "; "),
                      ": masked fields are matched by equality only, so "
                      "these queries are refused (REASON_QUERY_NOT_ALLOWED)"));
  }
}

// Whether every agency `inner` names is one `outer` names.
bool Covers(const ConsumerSet& outer, const ConsumerSet& inner) {
  if (outer.everyone) return true;
  if (inner.everyone) return false;
  for (const auto& c : inner.codes)
    if (!outer.Contains(c)) return false;
  for (const auto& p : inner.prefixes) {
    bool covered = false;
    for (const auto& q : outer.prefixes)
      if (absl::StartsWith(p, q)) covered = true;
    if (!covered) return false;
  }
  return true;
}

// Whether some agency is named by both.
bool Overlaps(const ConsumerSet& a, const ConsumerSet& b) {
  if (a.everyone || b.everyone) return true;
  for (const auto& c : b.codes)
    if (a.Contains(c)) return true;
  for (const auto& c : a.codes)
    if (b.Contains(c)) return true;
  for (const auto& p : a.prefixes)
    for (const auto& q : b.prefixes)
      if (absl::StartsWith(p, q) || absl::StartsWith(q, p)) return true;
  return false;
}

bool Covers(const PurposeSet& outer, const PurposeSet& inner) {
  if (outer.any) return true;
  if (inner.any) return false;
  for (const auto& p : inner.codes)
    if (!outer.Contains(p)) return false;
  return true;
}

}  // namespace

void LintDataset(const PolicySnapshot::CompiledDataset& ds,
                 const std::string& path,
                 std::vector<PolicyProblem>* warnings) {
  auto warn = [warnings](const std::string& where, std::string message) {
    warnings->push_back({false, where, std::move(message)});
  };
  for (size_t i = 0; i < ds.grants.size(); ++i) {
    const CompiledGrant& g = ds.grants[i];
    const std::string gpath = absl::StrCat(path, ".grants[", i, "]");
    for (size_t k = 0; k < ds.forbids.size(); ++k) {
      const CompiledForbid& f = ds.forbids[k];
      if (!Covers(f.consumers, g.consumers) ||
          !(f.purposes.any || Covers(f.purposes, g.purposes))) {
        if (!Overlaps(f.consumers, g.consumers)) continue;
        if (!f.whole_dataset && g.fields.Intersects(f.fields)) {
          warn(gpath, absl::StrCat("conflict: forbid ", f.proto->id(),
                                   " removes some of grant ", g.proto->id(),
                                   "'s fields for some consumers; the "
                                   "forbid wins"));
        }
        continue;
      }
      if (f.whole_dataset || g.fields.SubsetOf(f.fields)) {
        warn(gpath, absl::StrCat("unreachable: forbid ", f.proto->id(),
                                 " refuses everything grant ", g.proto->id(),
                                 " allows"));
      } else if (g.fields.Intersects(f.fields)) {
        warn(gpath, absl::StrCat("conflict: forbid ", f.proto->id(),
                                 " removes some of grant ", g.proto->id(),
                                 "'s fields; the forbid wins"));
      }
    }
    LintQueryKeys(ds, g, gpath, warnings);
    for (size_t j = 0; j < i; ++j) {
      const CompiledGrant& e = ds.grants[j];
      const bool unconditional =
          e.proto->valid_from().empty() && e.proto->valid_until().empty() &&
          !e.proto->require_subject_id() && !e.proto->require_consent();
      if (unconditional && Covers(e.consumers, g.consumers) &&
          (e.purposes.any || Covers(e.purposes, g.purposes)) &&
          (e.operations & g.operations) == g.operations &&
          (e.modes & g.modes) == g.modes && g.fields.SubsetOf(e.fields)) {
        warn(gpath, absl::StrCat("unreachable: the earlier grant ",
                                 e.proto->id(), " matches every request ",
                                 g.proto->id(), " would, and decides first"));
        break;
      }
    }
  }
}

}  // namespace dx::policy
