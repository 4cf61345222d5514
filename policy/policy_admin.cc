// PolicyAdmin's changes: apply, approve, reject, rollback, and the
// bootstrap at first start; each validated (Prepare), committed, recorded
// and waited for. The queries are in policy_admin_queries.cc.
#include "policy/policy_admin.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <iostream>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/crypto.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "policy/internal/admin_prepared.h"

namespace dx::policy {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr char kBootstrap[] = "bootstrap";
constexpr size_t kMaxErrorsShown = 20;

}  // namespace

PolicyAdmin::PolicyAdmin(Deps deps) : deps_(std::move(deps)) {}

absl::StatusOr<std::unique_ptr<PolicyAdmin>> PolicyAdmin::Create(
    Deps deps, const std::string& bootstrap_file) {
  std::unique_ptr<PolicyAdmin> admin(new PolicyAdmin(std::move(deps)));
  DX_ASSIGN_OR_RETURN(uint64_t head, admin->deps_.store->Head());
  if (head == 0 && !bootstrap_file.empty()) {
    DX_ASSIGN_OR_RETURN(std::string text, ReadFile(bootstrap_file));
    v1::PolicyDocument doc;
    YamlLines lines;
    DX_RETURN_IF_ERROR(YamlToProto(text, bootstrap_file, &doc, &lines));
    absl::MutexLock lock(&admin->mu_);
    auto done =
        admin->Submit(kBootstrap, doc, &lines, bootstrap_file,
                      "the policy_file, at first start", "bootstrap", 0, false);
    // Another node of the cluster bootstrapped first: its revision stands.
    if (!done.ok() && !absl::IsAborted(done.status())) return done.status();
    if (done.ok()) admin->seeded_revision_ = done->revision();
  }
  return admin;
}

absl::StatusOr<PolicyAdmin::Prepared> PolicyAdmin::Prepare(
    const v1::PolicyDocument& incoming, const YamlLines* lines,
    const std::string& source, v1::ApplyPolicyResponse* response) {
  Prepared out;
  const std::shared_ptr<const PolicySnapshot> active = deps_.sync->Current();
  const registry::Registry& registry = *active->registry();
  out.base = active->revision();
  // Compiled on top of the active snapshot: only what changes is compiled.
  std::vector<PolicyProblem> problems;
  auto snapshot =
      PolicySnapshot::Compile(active->registry(), incoming, active.get(),
                              out.base + 1, deps_.clock->Now(), &problems);
  std::vector<std::string> errors;
  for (const PolicyProblem& p : problems) {
    std::string where = source;
    if (absl::StartsWith(p.path, "stored:")) {
      where = absl::StrCat("the stored policy of ",
                           p.path.substr(7, p.path.find('.', 7) - 7));
    } else if (absl::StartsWith(p.path, "directory") &&
               !incoming.has_directory()) {
      where = "the stored directory";
    } else if (lines != nullptr) {
      if (int line = LineOf(*lines, p.path); line > 0)
        absl::StrAppend(&where, ":", line);
    }
    std::string text =
        absl::StrCat(where, ": field '", p.path, "': ", p.message);
    v1::PolicyMessage* m = response->add_messages();
    m->set_severity(p.error ? "error" : "warning");
    m->set_text(text);
    if (p.error) errors.push_back(std::move(text));
  }
  if (!snapshot.ok()) {
    const size_t shown = std::min(errors.size(), kMaxErrorsShown);
    return absl::InvalidArgumentError(absl::StrCat(
        "the policy is refused whole (", errors.size(),
        " error(s)); the active policy is unchanged:\n",
        absl::StrJoin(errors.begin(), errors.begin() + shown, "\n"),
        errors.size() > shown ? "\n..." : ""));
  }
  out.snapshot = *std::move(snapshot);

  for (const auto& p : incoming.datasets()) {
    const v1::DatasetPolicy* old = active->PolicyOf(p.dataset());
    v1::DatasetPolicy empty;
    empty.set_dataset(p.dataset());
    if (MessageDifferencer::Equals(old ? *old : empty, p)) continue;
    out.changed.push_back(p.dataset());
    *out.changes.add_datasets() = p;
    const v1::Dataset* ds = registry.FindDataset(p.dataset());
    if (TwoPersonRule(*ds, old) || TwoPersonRule(*ds, &p)) {
      out.protected_datasets.push_back(p.dataset());
    }
  }
  if (incoming.has_directory() &&
      !MessageDifferencer::Equals(incoming.directory(), active->directory())) {
    out.directory_changed = true;
    out.changed.push_back(kDirectoryName);
    *out.changes.mutable_directory() = incoming.directory();
    // Groups and attributes decide who reads protected datasets too.
    for (const auto& d : registry.proto().datasets()) {
      if (TwoPersonRule(d, active->PolicyOf(d.id()))) {
        out.protected_datasets.push_back(kDirectoryName);
        break;
      }
    }
  }
  return out;
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::Submit(
    const std::string& actor, const v1::PolicyDocument& incoming,
    const YamlLines* lines, const std::string& source,
    const std::string& comment, const std::string& action,
    uint64_t restored_revision, bool dry_run) {
  v1::ApplyPolicyResponse response;
  DX_ASSIGN_OR_RETURN(Prepared prepared,
                      Prepare(incoming, lines, source, &response));
  *response.mutable_changed() = {prepared.changed.begin(),
                                 prepared.changed.end()};
  *response.mutable_protected_datasets() = {prepared.protected_datasets.begin(),
                                            prepared.protected_datasets.end()};
  if (prepared.changed.empty()) {
    response.set_revision(prepared.base);
    return response;  // nothing to do
  }
  if (dry_run) return response;
  if (!prepared.protected_datasets.empty() && actor != kBootstrap) {
    v1::PendingChange pending;
    pending.set_id(HexEncode(certs::RandomBytes(6)));
    pending.set_proposer(actor);
    pending.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
    pending.set_comment(comment);
    pending.set_action(action);
    pending.set_restored_revision(restored_revision);
    *pending.mutable_document() = prepared.changes;
    *pending.mutable_protected_datasets() = response.protected_datasets();
    pending.set_base_revision(prepared.base);
    DX_RETURN_IF_ERROR(deps_.store->PutPending(pending));
    DX_RETURN_IF_ERROR(deps_.recorder->Record(
        actor, "policy.propose",
        absl::StrCat("pending change ", pending.id(), " (", action,
                     ") waits for a second administrator; changes: ",
                     absl::StrJoin(prepared.changed, ", "),
                     "; comment: ", comment)));
    response.set_pending_id(pending.id());
    return response;
  }
  DX_ASSIGN_OR_RETURN(uint64_t revision,
                      CommitLocked(actor, "", comment, action,
                                   restored_revision, std::move(prepared)));
  response.set_revision(revision);
  return response;
}

absl::StatusOr<uint64_t> PolicyAdmin::CommitLocked(const std::string& author,
                                                   const std::string& approver,
                                                   const std::string& comment,
                                                   const std::string& action,
                                                   uint64_t restored_revision,
                                                   Prepared prepared) {
  v1::PolicyRevision meta;
  meta.set_author(author);
  meta.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  meta.set_comment(comment);
  meta.set_action(action);
  *meta.mutable_changed() = {prepared.changed.begin(), prepared.changed.end()};
  meta.set_approved_by(approver);
  meta.set_restored_revision(restored_revision);
  meta.set_document_sha256(certs::Sha256(prepared.changes.SerializeAsString()));
  std::string detail =
      absl::StrCat(" (", action, "): ", absl::StrJoin(prepared.changed, ", "),
                   "; document sha256=", HexEncode(meta.document_sha256()));
  if (!approver.empty()) absl::StrAppend(&detail, "; approved by ", approver);
  if (restored_revision != 0)
    absl::StrAppend(&detail, "; restores revision ", restored_revision);
  if (!comment.empty()) absl::StrAppend(&detail, "; comment: ", comment);
  return CommitAndRecord(
      approver.empty() ? author : approver,
      approver.empty() ? absl::StrCat("policy.", action) : "policy.approve",
      detail, std::move(meta), std::move(prepared), "");
}

absl::StatusOr<uint64_t> PolicyAdmin::CommitAndRecord(
    const std::string& actor, const std::string& action,
    const std::string& detail, v1::PolicyRevision meta, Prepared prepared,
    const std::string& resolves_pending) {
  const std::string sha256 = meta.document_sha256();
  deps_.sync->ExpectCommit(prepared.snapshot, sha256);
  absl::StatusOr<uint64_t> committed = deps_.store->Commit(
      std::move(meta), prepared.changes, prepared.directory_changed,
      prepared.base, resolves_pending);
  if (!committed.ok()) {
    // Lost to a change made meanwhile, or the store failed: no revision
    // was made (the public method records the refusal).
    deps_.sync->ExpectCommit(nullptr, "");
    return committed.status();
  }
  // The record follows the commit, so it never names a revision that does
  // not exist. If it cannot be written, the revision stands (it is in the
  // store, with its author) and the caller is told.
  absl::Status recorded = deps_.recorder->Record(
      actor, action, absl::StrCat("revision ", *committed, detail));
  if (!recorded.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "revision ", *committed,
        " is committed, but its audit record could not be written (",
        recorded.message(),
        "); the gateway refuses exchanges until the audit log recovers"));
  }
  // In force on this node before the administrator is answered, so that
  // the next exchange here is decided by it (other nodes follow their
  // watches). A slow install is not a failure: the revision stands.
  absl::Status in_force = deps_.sync->WaitFor(*committed, absl::Seconds(10));
  if (!in_force.ok()) {
    LogEvent("policy", "warning", in_force.message());
  }
  return committed;
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::Apply(
    const std::string& actor, const v1::ApplyPolicyRequest& request) {
  return Recorded(actor, "Apply", ApplyChange(actor, request));
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::Rollback(
    const std::string& actor, const v1::RollbackPolicyRequest& request) {
  return Recorded(actor, "Rollback", RollbackChange(actor, request));
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::Approve(
    const std::string& actor, const v1::ApprovePolicyRequest& request) {
  return Recorded(actor, "Approve", ApproveChange(actor, request));
}

absl::Status PolicyAdmin::Reject(const std::string& actor,
                                 const v1::RejectPolicyRequest& request) {
  absl::Status s = RejectChange(actor, request);
  if (!s.ok()) RecordRefusal(actor, "Reject", s);
  return s;
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::Recorded(
    const std::string& actor, const char* method,
    absl::StatusOr<v1::ApplyPolicyResponse> result) {
  if (!result.ok()) RecordRefusal(actor, method, result.status());
  return result;
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::ApplyChange(
    const std::string& actor, const v1::ApplyPolicyRequest& request) {
  const std::string source =
      request.source_name().empty() ? "policy" : request.source_name();
  v1::PolicyDocument doc;
  YamlLines lines;
  DX_RETURN_IF_ERROR(YamlToProto(request.yaml(), source, &doc, &lines));
  absl::MutexLock lock(&mu_);
  return Submit(actor, doc, &lines, source, request.comment(), "apply", 0,
                request.dry_run());
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::RollbackChange(
    const std::string& actor, const v1::RollbackPolicyRequest& request) {
  if (request.dataset().empty() || request.to_revision() == 0) {
    return absl::InvalidArgumentError(
        "name the dataset (or 'directory') and the revision to restore");
  }
  absl::MutexLock lock(&mu_);
  DX_ASSIGN_OR_RETURN(
      v1::PolicyDocument old,
      deps_.store->StateAt(request.to_revision(), request.dataset()));
  v1::PolicyDocument incoming;
  if (request.dataset() == kDirectoryName) {
    *incoming.mutable_directory() = old.directory();
  } else {
    if (deps_.sync->Current()->registry()->FindDataset(request.dataset()) ==
        nullptr) {
      return absl::NotFoundError(absl::StrCat("dataset '", request.dataset(),
                                              "' is not in the registry"));
    }
    const v1::DatasetPolicy* p = FindPolicy(old, request.dataset());
    v1::DatasetPolicy* restored = incoming.add_datasets();
    if (p != nullptr) *restored = *p;
    restored->set_dataset(request.dataset());
  }
  return Submit(actor, incoming, nullptr,
                absl::StrCat("revision ", request.to_revision()),
                request.comment(), "rollback", request.to_revision(), false);
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyAdmin::ApproveChange(
    const std::string& actor, const v1::ApprovePolicyRequest& request) {
  absl::MutexLock lock(&mu_);
  DX_ASSIGN_OR_RETURN(v1::PendingChange pending,
                      deps_.store->GetPending(request.pending_id()));
  if (pending.proposer() == actor) {
    return absl::PermissionDeniedError(
        "the two-person rule needs a second administrator: you proposed "
        "this change");
  }
  // What changed since it was proposed must not overlap it.
  absl::flat_hash_set<std::string> touched;
  for (const auto& p : pending.document().datasets())
    touched.insert(p.dataset());
  if (pending.document().has_directory()) touched.insert(kDirectoryName);
  DX_ASSIGN_OR_RETURN(auto history, deps_.store->History("", 0));
  for (const v1::PolicyRevision& r : history) {
    if (r.revision() <= pending.base_revision()) break;
    for (const std::string& c : r.changed()) {
      if (touched.contains(c)) {
        return absl::FailedPreconditionError(absl::StrCat(
            c, " changed in revision ", r.revision(),
            " after this change was proposed; reject it and propose it "
            "again on top of the current policy"));
      }
    }
  }
  v1::ApplyPolicyResponse response;
  DX_ASSIGN_OR_RETURN(
      Prepared prepared,
      Prepare(pending.document(), nullptr,
              absl::StrCat("pending change ", pending.id()), &response));
  *response.mutable_changed() = {prepared.changed.begin(),
                                 prepared.changed.end()};
  if (prepared.changed.empty()) {
    DX_RETURN_IF_ERROR(deps_.store->DeletePending(pending.id()));
    response.set_revision(prepared.base);
    return response;
  }
  v1::PolicyRevision meta;
  meta.set_author(pending.proposer());
  meta.set_time_unix_micros(absl::ToUnixMicros(deps_.clock->Now()));
  meta.set_comment(absl::StrCat(pending.comment(),
                                request.comment().empty() ? "" : " / ",
                                request.comment()));
  meta.set_action(pending.action());
  *meta.mutable_changed() = {prepared.changed.begin(), prepared.changed.end()};
  meta.set_approved_by(actor);
  meta.set_restored_revision(pending.restored_revision());
  meta.set_document_sha256(certs::Sha256(prepared.changes.SerializeAsString()));
  const std::string detail = absl::StrCat(
      " (", pending.action(), "): ", absl::StrJoin(prepared.changed, ", "),
      "; document sha256=", HexEncode(meta.document_sha256()),
      "; pending change ", pending.id(), " proposed by ", pending.proposer(),
      "; comment: ", meta.comment());
  // The pending change goes in the same commit: two approvals of it (on
  // two nodes) cannot both succeed.
  DX_ASSIGN_OR_RETURN(
      uint64_t revision,
      CommitAndRecord(actor, "policy.approve", detail, std::move(meta),
                      std::move(prepared), pending.id()));
  response.set_revision(revision);
  return response;
}

absl::Status PolicyAdmin::RejectChange(const std::string& actor,
                                       const v1::RejectPolicyRequest& request) {
  absl::MutexLock lock(&mu_);
  DX_ASSIGN_OR_RETURN(v1::PendingChange pending,
                      deps_.store->GetPending(request.pending_id()));
  DX_RETURN_IF_ERROR(deps_.store->DeletePending(pending.id()));
  return deps_.recorder->Record(
      actor, "policy.reject",
      absl::StrCat("pending change ", pending.id(), " by ", pending.proposer(),
                   " rejected; comment: ", request.comment()));
}

void PolicyAdmin::RecordRefusal(const std::string& actor,
                                const std::string& method,
                                const absl::Status& why) {
  std::string message(why.message().substr(0, 1000));
  (void)deps_.recorder->Record(
      actor, "policy.refused",
      absl::StrCat(method, " refused: ", absl::StatusCodeToString(why.code()),
                   ": ", message));
}

}  // namespace dx::policy
