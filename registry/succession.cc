#include "registry/succession.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dx::registry {
namespace {

bool ParseRfc3339(const std::string& text, absl::Time* out) {
  std::string err;
  return absl::ParseTime(absl::RFC3339_full, text, out, &err);
}

}  // namespace

absl::Status Successions::Build(
    const v1::Registry& proto,
    const std::function<absl::Status(const std::string&, const std::string&)>&
        bad) {
  absl::flat_hash_set<std::string> agencies;
  for (const auto& a : proto.agencies()) agencies.insert(a.code());
  for (int i = 0; i < proto.successions_size(); ++i) {
    const v1::Succession& s = proto.successions(i);
    const std::string where = absl::StrCat("successions[", i, "]");
    if (!agencies.contains(s.agency())) {
      return bad(where + ".agency",
                 absl::StrCat("agency '", s.agency(),
                              "' is not in agencies (an old code stays "
                              "listed: its name and certificates remain)"));
    }
    if (s.successors().empty()) {
      return bad(where + ".successors", "must name at least one agency");
    }
    absl::flat_hash_set<std::string> seen;
    for (const std::string& to : s.successors()) {
      if (to == s.agency()) {
        return bad(where + ".successors",
                   absl::StrCat("agency '", to, "' cannot succeed itself"));
      }
      if (!agencies.contains(to)) {
        return bad(where + ".successors",
                   absl::StrCat("successor '", to, "' is not in agencies"));
      }
      if (!seen.insert(to).second) {
        return bad(where + ".successors",
                   absl::StrCat("successor '", to, "' listed twice"));
      }
    }
    if (s.legal_basis().empty()) {
      return bad(where + ".legal_basis",
                 "must cite the act that made the change (refusals cite it)");
    }
    SuccessionEntry e;
    e.proto = &s;
    if (!ParseRfc3339(s.effective(), &e.effective)) {
      return bad(where + ".effective",
                 absl::StrCat("'", s.effective(),
                              "' is not an RFC 3339 time (e.g. "
                              "2025-07-01T00:00:00+07:00)"));
    }
    if (!s.grace_until().empty()) {
      if (!ParseRfc3339(s.grace_until(), &e.grace_until)) {
        return bad(where + ".grace_until",
                   absl::StrCat("'", s.grace_until(),
                                "' is not an RFC 3339 time (e.g. "
                                "2025-12-31T00:00:00+07:00)"));
      }
      if (e.grace_until <= e.effective) {
        return bad(where + ".grace_until",
                   "must be after effective (or left out: no grace)");
      }
    }
    if (!by_old_.emplace(s.agency(), e).second) {
      return bad(where + ".agency",
                 absl::StrCat("agency '", s.agency(),
                              "' already has a succession; list all its "
                              "successors in one"));
    }
    for (const std::string& to : s.successors()) {
      by_successor_[to].push_back(s.agency());
    }
  }
  // A cycle (A -> B -> A) would leave no agency to call under: refuse it.
  // Each code has at most one succession, so walking from each old code
  // along every successor either ends or returns to a code on the path.
  for (int i = 0; i < proto.successions_size(); ++i) {
    const std::string& start = proto.successions(i).agency();
    std::vector<std::string> stack = {start};
    absl::flat_hash_set<std::string> visited;
    while (!stack.empty()) {
      const std::string code = stack.back();
      stack.pop_back();
      const SuccessionEntry* e = Find(code);
      if (e == nullptr) continue;
      for (const std::string& to : e->proto->successors()) {
        if (to == start) {
          return bad(absl::StrCat("successions[", i, "].successors"),
                     absl::StrCat("succession of '", start,
                                  "' comes back to it (a cycle through '", code,
                                  "'); an agency's successors must not be "
                                  "succeeded by it"));
        }
        if (visited.insert(to).second) stack.push_back(to);
      }
    }
  }
  for (auto& [code, olds] : by_successor_) std::sort(olds.begin(), olds.end());
  return absl::OkStatus();
}

const SuccessionEntry* Successions::Find(const std::string& code) const {
  auto it = by_old_.find(code);
  return it == by_old_.end() ? nullptr : &it->second;
}

SuccessionState Successions::StateAt(const std::string& code,
                                     absl::Time now) const {
  const SuccessionEntry* e = Find(code);
  if (e == nullptr || now < e->effective) return SuccessionState::kActive;
  if (now < e->grace_until) return SuccessionState::kInGrace;
  return SuccessionState::kSucceeded;
}

std::vector<std::string> Successions::Predecessors(
    const std::string& code) const {
  auto it = by_successor_.find(code);
  return it == by_successor_.end() ? std::vector<std::string>() : it->second;
}

std::vector<std::string> Successions::Lineage(const std::string& code) const {
  absl::flat_hash_set<std::string> seen = {code};
  std::vector<std::string> todo = {code};
  std::vector<std::string> others;
  auto visit = [&](const std::string& c) {
    if (seen.insert(c).second) {
      todo.push_back(c);
      others.push_back(c);
    }
  };
  while (!todo.empty()) {
    const std::string c = todo.back();
    todo.pop_back();
    if (const SuccessionEntry* e = Find(c)) {
      for (const std::string& to : e->proto->successors()) visit(to);
    }
    for (const std::string& from : Predecessors(c)) visit(from);
  }
  std::sort(others.begin(), others.end());
  std::vector<std::string> out = {code};
  out.insert(out.end(), others.begin(), others.end());
  return out;
}

std::string SuccessionText(const SuccessionEntry& s) {
  return absl::StrCat(
      "agency ", s.proto->agency(), " was succeeded by ",
      absl::StrJoin(s.proto->successors(), " and "), " on ",
      absl::FormatTime(absl::RFC3339_sec, s.effective, absl::UTCTimeZone()),
      " (", s.proto->legal_basis(), ")");
}

}  // namespace dx::registry
