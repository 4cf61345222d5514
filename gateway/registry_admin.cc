#include "gateway/registry_admin.h"

#include <google/protobuf/util/message_differencer.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "registry/registry.h"

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
    const std::string& actor, const v1::ApplyRegistryRequest& in) {
  // A registry that takes no commits refuses before anything is checked,
  // a dry run included: it says where the registry lives instead.
  DX_RETURN_IF_ERROR(deps_.source->CanCommit());
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const registry::Registry> current = deps_.source->Current();
  v1::ApplyRegistryRequest request = in;
  std::string proposer = actor, approver;
  if (!in.approves().empty()) {
    DX_ASSIGN_OR_RETURN(v1::PendingRegistryChange held,
                        TakeApproval(actor, in, current->revision()));
    request.set_yaml(held.yaml());
    request.set_source_name(held.source_name());
    request.set_comment(held.comment());
    proposer = held.proposer();
    approver = actor;
  }
  const std::string source =
      request.source_name().empty() ? "registry" : request.source_name();
  DX_ASSIGN_OR_RETURN(std::shared_ptr<const registry::Registry> candidate,
                      registry::Registry::FromYaml(request.yaml(), source,
                                                   current->revision() + 1));
  DX_RETURN_IF_ERROR(deps_.sync->CheckRegistry(candidate));
  v1::ApplyRegistryResponse out;
  for (std::string& c : RegistryChanges(current->proto(), candidate->proto())) {
    out.add_changes(std::move(c));
  }
  std::vector<std::string> removed =
      registry::RemovedStateSecretMarks(current->proto(), candidate->proto());
  *out.mutable_removed_marks() = {removed.begin(), removed.end()};
  if (request.dry_run() || out.changes().empty()) {
    out.set_revision(request.dry_run() ? 0 : current->revision());
    return out;
  }
  if (!removed.empty() && approver.empty()) {
    return Hold(actor, request, current->revision(), std::move(removed),
                std::move(out));
  }
  v1::RegistryRevision meta;
  meta.set_author(proposer);
  meta.set_approved_by(approver);
  meta.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  meta.set_comment(request.comment());
  DX_ASSIGN_OR_RETURN(
      uint64_t revision,
      deps_.source->Commit(request.yaml(), meta, current->revision()));
  out.set_revision(revision);
  if (!approver.empty()) {
    absl::MutexLock plock(&pending_mu_);
    pending_.erase(in.approves());
  }
  // After the commit, so that the log never names a revision that does
  // not exist.
  absl::Status recorded = deps_.recorder->Record(
      actor, "registry.apply",
      absl::StrCat(
          "registry revision ", revision, ": ",
          absl::StrJoin(out.changes(), ", "),
          removed.empty()
              ? ""
              : absl::StrCat("; removes state_secret marks: ",
                             absl::StrJoin(removed, ", "), "; proposed by ",
                             proposer, " (pending ", in.approves(),
                             "), approved by ", approver),
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

absl::StatusOr<v1::PendingRegistryChange> RegistryAdmin::TakeApproval(
    const std::string& actor, const v1::ApplyRegistryRequest& request,
    uint64_t current_revision) {
  if (!request.yaml().empty()) {
    return absl::InvalidArgumentError(
        "an approval applies the pending change as proposed: send it "
        "without a registry file (dxctl registry approve ID)");
  }
  absl::MutexLock lock(&pending_mu_);
  auto it = pending_.find(request.approves());
  if (it == pending_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no pending registry change '", request.approves(),
        "' on this node; pending changes are held by the node that received "
        "them, until it restarts (dxctl registry get lists them)"));
  }
  if (it->second.proposer() == actor) {
    return absl::PermissionDeniedError(absl::StrCat(
        "pending registry change ", it->first, " removes state_secret marks (",
        absl::StrJoin(it->second.removed_marks(), ", "),
        "): it needs a second registry operator, not ", actor,
        ", who proposed it"));
  }
  if (it->second.base_revision() != current_revision) {
    const std::string id = it->first;
    const uint64_t base = it->second.base_revision();
    pending_.erase(it);
    return absl::FailedPreconditionError(absl::StrCat(
        "pending registry change ", id, " was proposed on registry revision ",
        base, ", and revision ", current_revision,
        " is in force now: approving it would approve blind; it is dropped, "
        "propose it again"));
  }
  return it->second;
}

absl::StatusOr<v1::ApplyRegistryResponse> RegistryAdmin::Hold(
    const std::string& actor, const v1::ApplyRegistryRequest& request,
    uint64_t base_revision, std::vector<std::string> removed,
    v1::ApplyRegistryResponse out) {
  v1::PendingRegistryChange held;
  held.set_id(HexEncode(certs::RandomBytes(8)));
  held.set_proposer(actor);
  held.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  held.set_comment(request.comment());
  held.set_base_revision(base_revision);
  *held.mutable_removed_marks() = {removed.begin(), removed.end()};
  held.set_yaml_sha256(HexEncode(certs::Sha256(request.yaml())));
  *held.mutable_changes() = out.changes();
  held.set_yaml(request.yaml());
  held.set_source_name(request.source_name());
  {
    absl::MutexLock lock(&pending_mu_);
    // Changes proposed on an older registry can never be approved.
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = it->second.base_revision() != base_revision ? pending_.erase(it)
                                                       : std::next(it);
    }
    if (pending_.size() >= kMaxPending) {
      return absl::ResourceExhaustedError(absl::StrCat(
          kMaxPending,
          " registry changes already wait for approval on this "
          "node; approve them first (dxctl registry get lists them)"));
    }
    pending_[held.id()] = held;
  }
  absl::Status recorded = deps_.recorder->Record(
      actor, "registry.pending",
      absl::StrCat(
          "registry change ", held.id(),
          " held for a second registry operator: it removes "
          "state_secret marks: ",
          absl::StrJoin(removed, ", "),
          "; changes: ", absl::StrJoin(out.changes(), ", "), "; on revision ",
          base_revision, "; yaml sha256=", held.yaml_sha256(),
          request.comment().empty() ? "" : "; comment: ", request.comment()));
  if (!recorded.ok()) {
    absl::MutexLock lock(&pending_mu_);
    pending_.erase(held.id());
    return absl::UnavailableError(
        absl::StrCat("the change could not be recorded in the audit log (",
                     recorded.message(), "); nothing is held, try again"));
  }
  out.set_revision(0);
  out.set_pending_id(held.id());
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
  std::vector<std::string> removed =
      registry::RemovedStateSecretMarks(current->proto(), candidate->proto());
  if (!removed.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the file removes state_secret marks (", absl::StrJoin(removed, ", "),
        "); a mark's removal needs a second person, and a registry file has "
        "no way to carry one: put the marks back, or move the registry to a "
        "cluster's store where another operator approves the removal"));
  }
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
  absl::MutexLock lock(&pending_mu_);
  for (const auto& [id, held] : pending_) *out.add_pending() = held;
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
