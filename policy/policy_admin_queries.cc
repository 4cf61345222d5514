// PolicyAdmin's queries: validate (a dry run of Prepare), explain, get,
// list, history, diff, pending changes. Nothing here commits; the changes
// are in policy_admin.cc.
#include <google/protobuf/util/json_util.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "policy/explain.h"
#include "policy/internal/admin_prepared.h"
#include "policy/policy_admin.h"
#include "policy/text_diff.h"

namespace dx::policy {
namespace {

std::string CategoryName(v1::DataCategory c) {
  switch (c) {
    case v1::DATA_CATEGORY_OPEN:
      return "open";
    case v1::DATA_CATEGORY_SHARED:
      return "shared";
    case v1::DATA_CATEGORY_PRIVATE:
      return "private";
    default:
      return "unspecified";
  }
}

// `doc` restricted to one dataset (or the directory); whole when empty.
v1::PolicyDocument Only(const v1::PolicyDocument& doc,
                        const std::string& dataset) {
  if (dataset.empty()) return doc;
  v1::PolicyDocument out;
  if (dataset == kDirectoryName) {
    *out.mutable_directory() = doc.directory();
  } else if (const v1::DatasetPolicy* p = FindPolicy(doc, dataset)) {
    *out.add_datasets() = *p;
  }
  return out;
}

}  // namespace

std::string PolicyAdmin::ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

v1::ValidatePolicyResponse PolicyAdmin::Validate(
    const v1::ValidatePolicyRequest& request) {
  v1::ValidatePolicyResponse out;
  const std::string source =
      request.source_name().empty() ? "policy" : request.source_name();
  v1::PolicyDocument doc;
  YamlLines lines;
  absl::Status parsed = YamlToProto(request.yaml(), source, &doc, &lines);
  if (!parsed.ok()) {
    v1::PolicyMessage* m = out.add_messages();
    m->set_severity("error");
    m->set_text(std::string(parsed.message()));
    return out;
  }
  v1::ApplyPolicyResponse scratch;
  absl::MutexLock lock(&mu_);
  out.set_ok(Prepare(doc, &lines, source, &scratch).ok());
  *out.mutable_messages() = scratch.messages();
  return out;
}

v1::ExplainResponse PolicyAdmin::Explain(const v1::ExplainRequest& r) const {
  return policy::Explain(*deps_.sync->Current(), r, deps_.clock->Now());
}

absl::StatusOr<v1::GetPolicyResponse> PolicyAdmin::Get(
    const v1::GetPolicyRequest& request) const {
  uint64_t revision = request.revision();
  if (revision == 0) {
    DX_ASSIGN_OR_RETURN(revision, deps_.store->Head());
  }
  DX_ASSIGN_OR_RETURN(v1::PolicyDocument doc,
                      deps_.store->StateAt(revision, request.dataset()));
  v1::GetPolicyResponse out;
  out.set_revision(revision);
  *out.mutable_document() = Only(doc, request.dataset());
  return out;
}

absl::StatusOr<v1::ListPoliciesResponse> PolicyAdmin::List() const {
  const std::shared_ptr<const PolicySnapshot> active = deps_.sync->Current();
  DX_ASSIGN_OR_RETURN(auto history, deps_.store->History("", 0));
  absl::flat_hash_map<std::string, uint64_t> last_changed;
  for (const auto& r : history) {
    for (const auto& c : r.changed()) last_changed.try_emplace(c, r.revision());
  }
  DX_ASSIGN_OR_RETURN(auto pending, deps_.store->ListPending());
  v1::ListPoliciesResponse out;
  out.set_revision(active->revision());
  out.set_pending_changes(pending.size());
  for (const v1::Dataset& d : active->registry()->proto().datasets()) {
    const v1::DatasetPolicy* p = active->PolicyOf(d.id());
    v1::PolicySummary* s = out.add_datasets();
    s->set_dataset(d.id());
    s->set_provider_agency(d.provider_agency());
    s->set_category(CategoryName(d.category()));
    s->set_grants(p ? p->grants_size() : 0);
    s->set_forbids(p ? p->forbids_size() : 0);
    s->set_two_person_rule(TwoPersonRule(d, p));
    if (auto it = last_changed.find(d.id()); it != last_changed.end())
      s->set_last_changed(it->second);
  }
  return out;
}

absl::StatusOr<v1::PolicyHistoryResponse> PolicyAdmin::History(
    const v1::PolicyHistoryRequest& request) const {
  DX_ASSIGN_OR_RETURN(auto revisions,
                      deps_.store->History(request.dataset(), request.limit()));
  v1::PolicyHistoryResponse out;
  for (auto& r : revisions) *out.add_revisions() = std::move(r);
  return out;
}

absl::StatusOr<v1::PolicyDiffResponse> PolicyAdmin::Diff(
    const v1::PolicyDiffRequest& request) const {
  uint64_t to = request.to_revision();
  if (to == 0) {
    DX_ASSIGN_OR_RETURN(to, deps_.store->Head());
  }
  v1::PolicyDocument before;  // from_revision 0: from nothing
  if (request.from_revision() != 0) {
    DX_ASSIGN_OR_RETURN(before, deps_.store->StateAt(request.from_revision(),
                                                     request.dataset()));
  }
  DX_ASSIGN_OR_RETURN(v1::PolicyDocument after,
                      deps_.store->StateAt(to, request.dataset()));
  v1::PolicyDiffResponse out;
  out.set_diff(UnifiedDiff(ToJson(Only(before, request.dataset())),
                           ToJson(Only(after, request.dataset())),
                           absl::StrCat("revision ", request.from_revision()),
                           absl::StrCat("revision ", to)));
  return out;
}

absl::StatusOr<v1::ListPendingResponse> PolicyAdmin::ListPending() const {
  DX_ASSIGN_OR_RETURN(auto pending, deps_.store->ListPending());
  v1::ListPendingResponse out;
  for (auto& p : pending) *out.add_changes() = std::move(p);
  return out;
}

}  // namespace dx::policy
