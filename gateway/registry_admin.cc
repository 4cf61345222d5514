#include "gateway/registry_admin.h"

#include <google/protobuf/util/message_differencer.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::gateway {
namespace {

template <typename T, typename Key>
void Compare(const google::protobuf::RepeatedPtrField<T>& before,
             const google::protobuf::RepeatedPtrField<T>& after, Key key,
             const char* what, std::vector<std::string>* out) {
  std::map<std::string, const T*> old_items, new_items;
  for (const T& x : before) old_items[key(x)] = &x;
  for (const T& x : after) new_items[key(x)] = &x;
  for (const auto& [k, x] : new_items) {
    auto it = old_items.find(k);
    if (it == old_items.end()) {
      out->push_back(absl::StrCat(what, " ", k, " added"));
    } else if (!google::protobuf::util::MessageDifferencer::Equals(*it->second,
                                                                   *x)) {
      out->push_back(absl::StrCat(what, " ", k, " changed"));
    }
  }
  for (const auto& [k, x] : old_items) {
    if (new_items.count(k) == 0) {
      out->push_back(absl::StrCat(what, " ", k, " removed"));
    }
  }
}

}  // namespace

std::vector<std::string> RegistryChanges(const v1::Registry& before,
                                         const v1::Registry& after) {
  std::vector<std::string> out;
  Compare(
      before.agencies(), after.agencies(),
      [](const v1::Agency& a) { return a.code(); }, "agency", &out);
  Compare(
      before.datasets(), after.datasets(),
      [](const v1::Dataset& d) { return d.id(); }, "dataset", &out);
  return out;
}

absl::StatusOr<v1::ApplyRegistryResponse> RegistryAdmin::Apply(
    const std::string& actor, const v1::ApplyRegistryRequest& request) {
  absl::StatusOr<v1::ApplyRegistryResponse> r = ApplyUnrecorded(actor, request);
  if (!r.ok()) {
    (void)deps_.recorder->Record(
        actor, "registry.refused",
        absl::StrCat(
            "Apply refused: ", absl::StatusCodeToString(r.status().code()),
            ": ", r.status().message().substr(0, 1000)));
  }
  return r;
}

absl::StatusOr<v1::ApplyRegistryResponse> RegistryAdmin::ApplyUnrecorded(
    const std::string& actor, const v1::ApplyRegistryRequest& request) {
  // A registry that takes no commits refuses before anything is checked,
  // a dry run included: it says where the registry lives instead.
  DX_RETURN_IF_ERROR(deps_.source->CanCommit());
  const std::string source =
      request.source_name().empty() ? "registry" : request.source_name();
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const registry::Registry> current = deps_.source->Current();
  DX_ASSIGN_OR_RETURN(std::shared_ptr<const registry::Registry> candidate,
                      registry::Registry::FromYaml(request.yaml(), source,
                                                   current->revision() + 1));
  DX_RETURN_IF_ERROR(deps_.sync->CheckRegistry(candidate));
  v1::ApplyRegistryResponse out;
  for (std::string& c : RegistryChanges(current->proto(), candidate->proto())) {
    out.add_changes(std::move(c));
  }
  if (request.dry_run() || out.changes().empty()) {
    out.set_revision(request.dry_run() ? 0 : current->revision());
    return out;
  }
  v1::RegistryRevision meta;
  meta.set_author(actor);
  meta.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  meta.set_comment(request.comment());
  DX_ASSIGN_OR_RETURN(
      uint64_t revision,
      deps_.source->Commit(request.yaml(), meta, current->revision()));
  out.set_revision(revision);
  // After the commit, so that the log never names a revision that does
  // not exist.
  absl::Status recorded = deps_.recorder->Record(
      actor, "registry.apply",
      absl::StrCat(
          "registry revision ", revision, ": ",
          absl::StrJoin(out.changes(), ", "),
          "; yaml sha256=", HexEncode(certs::Sha256(request.yaml())),
          request.comment().empty() ? "" : "; comment: ", request.comment()));
  if (!recorded.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "registry revision ", revision,
        " is committed, but its audit record could not be written (",
        recorded.message(), ")"));
  }
  absl::Status in_force =
      deps_.sync->WaitForRegistry(revision, absl::Seconds(10));
  if (!in_force.ok()) {
    return absl::UnavailableError(
        absl::StrCat(in_force.message(), ": ", deps_.sync->Health().message()));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> RegistryAdmin::ReloadFile(
    const std::string& actor, const std::string& trigger) {
  auto r = ReloadFileUnrecorded(actor, trigger);
  if (!r.ok()) {
    (void)deps_.recorder->Record(
        actor, "registry.reload-refused",
        absl::StrCat(deps_.source->Describe(), " (", trigger,
                     ") refused, the registry in "
                     "force stays: ",
                     r.status().message().substr(0, 1000)));
  }
  return r;
}

absl::StatusOr<std::vector<std::string>> RegistryAdmin::ReloadFileUnrecorded(
    const std::string& actor, const std::string& trigger) {
  DX_ASSIGN_OR_RETURN(const std::string file, deps_.source->ReloadableFile());
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const registry::Registry> current = deps_.source->Current();
  DX_ASSIGN_OR_RETURN(std::string yaml, ReadFile(file));
  DX_ASSIGN_OR_RETURN(
      std::shared_ptr<const registry::Registry> candidate,
      registry::Registry::FromYaml(yaml, file, current->revision() + 1));
  DX_RETURN_IF_ERROR(deps_.sync->CheckRegistry(candidate));
  std::vector<std::string> changes =
      RegistryChanges(current->proto(), candidate->proto());
  if (changes.empty()) return changes;
  const uint64_t revision = candidate->revision();
  DX_RETURN_IF_ERROR(deps_.source->Reload(std::move(candidate)));
  DX_RETURN_IF_ERROR(deps_.recorder->Record(
      actor, "registry.reload",
      absl::StrCat("registry revision ", revision, " from ", file, " (",
                   trigger, "): ", absl::StrJoin(changes, ", "),
                   "; yaml sha256=", HexEncode(certs::Sha256(yaml)))));
  DX_RETURN_IF_ERROR(deps_.sync->WaitForRegistry(revision, absl::Seconds(10)));
  return changes;
}

v1::GetRegistryResponse RegistryAdmin::Get() const {
  std::shared_ptr<const registry::Registry> r =
      deps_.sync->Current()->registry();
  v1::GetRegistryResponse out;
  *out.mutable_registry() = r->proto();
  out.set_revision(r->revision());
  out.set_digest(r->digest());
  out.set_source(deps_.source->Describe());
  return out;
}

absl::StatusOr<v1::RegistryHistoryResponse> RegistryAdmin::History(
    const v1::RegistryHistoryRequest& request) const {
  DX_ASSIGN_OR_RETURN(auto revisions, deps_.source->History(request.limit()));
  v1::RegistryHistoryResponse out;
  for (auto& r : revisions) *out.add_revisions() = std::move(r);
  return out;
}

}  // namespace dx::gateway
