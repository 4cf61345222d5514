#include "cli/succession_proposal.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dx::cli {
namespace {

bool Lists(const google::protobuf::RepeatedPtrField<std::string>& list,
           const std::string& code) {
  return std::find(list.begin(), list.end(), code) != list.end();
}

// A code pattern ending in "*" ("000.00.00.H*") that covers `code`.
bool MatchesPattern(const std::string& pattern, const std::string& code) {
  return !pattern.empty() && pattern.back() == '*' &&
         code.rfind(pattern.substr(0, pattern.size() - 1), 0) == 0;
}

}  // namespace

absl::StatusOr<SuccessionProposal> ProposeSuccession(
    const v1::PolicyDocument& current, const v1::Registry& registry,
    const std::string& old_code) {
  const v1::Succession* succession = nullptr;
  for (const auto& s : registry.successions()) {
    if (s.agency() == old_code) succession = &s;
  }
  if (succession == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the registry in force has no succession for agency '", old_code,
        "'; an operator records it first (registry 'successions', "
        "docs/POLICY.md#succession-of-agencies)"));
  }
  SuccessionProposal out;
  out.successors.assign(succession->successors().begin(),
                        succession->successors().end());

  for (const v1::DatasetPolicy& p : current.datasets()) {
    v1::DatasetPolicy changed = p;
    changed.clear_grants();
    bool touched = false;
    for (const v1::Grant& g : p.grants()) {
      *changed.add_grants() = g;
      if (!Lists(g.consumers(), old_code)) {
        for (const std::string& c : g.consumers()) {
          if (MatchesPattern(c, old_code)) {
            out.notes.push_back(absl::StrCat(
                "review: ", p.dataset(), " grant ", g.id(), " matches ",
                old_code, " by the pattern ", c, "; not copied"));
          }
        }
        continue;
      }
      for (const std::string& to : out.successors) {
        if (Lists(g.consumers(), to)) continue;  // reads under it already
        const std::string id = absl::StrCat(g.id(), "@", to);
        if (std::any_of(p.grants().begin(), p.grants().end(),
                        [&](const v1::Grant& x) { return x.id() == id; })) {
          continue;  // carried already
        }
        v1::Grant copy = g;
        copy.set_id(id);
        copy.clear_consumers();
        copy.add_consumers(to);
        copy.set_description(absl::StrCat(
            "carried from ", old_code, " (", succession->legal_basis(), ")",
            g.description().empty() ? "" : ": ", g.description()));
        *changed.add_grants() = std::move(copy);
        touched = true;
        out.notes.push_back(absl::StrCat("copy ", p.dataset(), " grant ",
                                         g.id(), " to ", to, " as ", id));
        if (!g.row_filter().empty()) {
          out.notes.push_back(absl::StrCat(
              "review: ", id, " has a row filter (", g.row_filter(),
              "); it reads ", to, "'s own directory attributes, not ", old_code,
              "'s"));
        }
      }
    }
    for (const v1::Forbid& f : p.forbids()) {
      if (Lists(f.consumers(), old_code)) {
        out.notes.push_back(absl::StrCat(
            "review: ", p.dataset(), " forbid ", f.id(), " names ", old_code,
            "; forbids are not carried (decide whether it binds ",
            absl::StrJoin(out.successors, ", "), ")"));
      }
    }
    if (touched) *out.change.add_datasets() = std::move(changed);
  }

  v1::PolicyDirectory directory = current.directory();
  bool directory_touched = false;
  for (v1::AgencyGroup& g : *directory.mutable_groups()) {
    if (!Lists(g.members(), old_code)) {
      for (const std::string& m : g.members()) {
        if (MatchesPattern(m, old_code)) {
          out.notes.push_back(absl::StrCat("review: group ", g.name(),
                                           " holds ", old_code,
                                           " by the pattern ", m));
        }
      }
      continue;
    }
    for (const std::string& to : out.successors) {
      if (Lists(g.members(), to)) continue;
      g.add_members(to);
      directory_touched = true;
      out.notes.push_back(absl::StrCat("add ", to, " to group ", g.name(),
                                       " (as ", old_code, ")"));
    }
  }
  if (directory_touched) *out.change.mutable_directory() = std::move(directory);
  return out;
}

}  // namespace dx::cli
