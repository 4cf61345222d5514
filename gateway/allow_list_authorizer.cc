#include "gateway/allow_list_authorizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dx::gateway {
namespace {

constexpr char kVersion[] = "registry-allow-list";

template <typename C>
bool Contains(const C& c, const std::string& v) {
  return std::find(c.begin(), c.end(), v) != c.end();
}

}  // namespace

AccessDecision AllowListAuthorizer::Decide(const AccessRequest& req) const {
  const v1::Dataset& ds = *req.dataset;
  AccessDecision d;
  d.policy_version = kVersion;
  d.legal_basis = ds.restriction_legal_basis();
  bool consumer_known = false;
  bool purpose_ok = false;
  std::vector<std::string> missing_fields;
  for (const v1::AccessRule& rule : ds.access()) {
    if (!Contains(rule.consumers(), req.consumer_agency)) continue;
    consumer_known = true;
    if (!Contains(rule.purposes(), req.purpose_code)) continue;
    purpose_ok = true;
    std::vector<std::string> allowed;
    if (rule.fields().empty()) {
      for (const auto& f : ds.fields()) allowed.push_back(f.name());
    } else {
      allowed.assign(rule.fields().begin(), rule.fields().end());
    }
    if (req.fields.empty()) {
      d.allowed = true;
      d.fields = allowed;
      d.rule_id = rule.id();
      return d;
    }
    std::vector<std::string> missing;
    for (const auto& f : req.fields) {
      if (!Contains(allowed, f)) missing.push_back(f);
    }
    if (missing.empty()) {
      d.allowed = true;
      d.fields = req.fields;
      d.rule_id = rule.id();
      return d;
    }
    if (missing_fields.empty() || missing.size() < missing_fields.size()) {
      missing_fields = missing;
      d.rule_id = rule.id();
    }
  }
  d.reason = v1::REASON_POLICY_DENIED;
  if (!consumer_known) {
    d.message = absl::StrCat("agency ", req.consumer_agency,
                             " has no sharing grant for dataset ", ds.id(),
                             "; ask its owner ", ds.provider_agency(),
                             " for a sharing agreement");
  } else if (!purpose_ok) {
    d.message = absl::StrCat("purpose '", req.purpose_code,
                             "' is not granted to agency ", req.consumer_agency,
                             " for dataset ", ds.id());
  } else {
    d.message =
        absl::StrCat("fields not granted to agency ", req.consumer_agency, ": ",
                     absl::StrJoin(missing_fields, ", "),
                     "; request only granted fields or ask for a wider grant");
  }
  return d;
}

}  // namespace dx::gateway
