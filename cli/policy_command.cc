// dxctl policy: read, change, review, explain and roll back sharing
// policies through a gateway's PolicyAdmin service; `validate` and `test`
// (which also run offline) are in policy_test_command.cc.
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/agency_client.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/policy_cases.h"
#include "cli/policy_commands.h"
#include "cli/remote.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "dx/v1/policy.grpc.pb.h"

namespace dx::cli {
namespace {

int Usage(const std::string& what) {
  return cli::Fail("policy", absl::InvalidArgumentError(what));
}
int Fail(const absl::Status& s) { return cli::Fail("policy", s); }

int FailRpc(const absl::Status& s) { return cli::FailRpc("policy", s); }

std::string FormatMicros(int64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

void PrintChange(const v1::ApplyPolicyResponse& r, bool dry_run) {
  PrintPolicyMessages(r.messages());
  if (r.changed().empty()) {
    std::cout << "no change: the active policy (revision " << r.revision()
              << ") already says this\n";
    return;
  }
  const std::string changed = absl::StrJoin(r.changed(), ", ");
  if (dry_run) {
    std::cout << "dry run: would change " << changed;
    if (!r.protected_datasets().empty()) {
      std::cout << " (needs a second administrator: "
                << absl::StrJoin(r.protected_datasets(), ", ") << ")";
    }
    std::cout << "\n";
  } else if (!r.pending_id().empty()) {
    std::cout << "pending " << r.pending_id() << ": " << changed
              << " is under the two-person rule ("
              << absl::StrJoin(r.protected_datasets(), ", ")
              << "); another policy administrator must run\n  dxctl policy "
                 "approve "
              << r.pending_id() << "\n";
  } else {
    std::cout << "revision " << r.revision() << ": changed " << changed
              << " (in effect now)\n";
  }
}

// Prints an explain answer the way people read decisions.
void PrintDecision(const v1::ExplainResponse& e, bool with_trace) {
  if (e.allowed()) {
    std::cout << "ALLOW by " << e.rule_id() << " (policy revision "
              << e.revision() << ")\n";
    std::cout << "  fields:      " << absl::StrJoin(e.fields(), ", ") << "\n";
    if (!e.masks().empty())
      std::cout << "  masked:      " << absl::StrJoin(e.masks(), ", ") << "\n";
    if (!e.row_filter().empty())
      std::cout << "  row filter:  " << e.row_filter() << "\n";
    if (e.quota().requests_per_minute() || e.quota().records_per_day()) {
      std::cout << "  quota:       " << e.quota().requests_per_minute()
                << " requests/minute, " << e.quota().records_per_day()
                << " records/day (0: none)\n";
    }
  } else {
    std::cout << "DENY " << v1::ReasonCode_Name(e.reason()) << " by "
              << e.rule_id() << " (policy revision " << e.revision() << ")\n";
    std::cout << "  why:         " << e.message() << "\n";
  }
  if (!e.legal_basis().empty())
    std::cout << "  legal basis: " << e.legal_basis() << "\n";
  if (with_trace) {
    std::cout << "how:\n";
    for (const auto& t : e.trace()) std::cout << "  " << t << "\n";
  }
}

std::string Arg(const Flags& f, size_t i) {
  return i < f.positional().size() ? f.positional()[i] : std::string();
}

int RunApply(const Flags& f, PolicyClient& admin) {
  if (!f.Has("f")) return Usage("name the document: -f FILE");
  auto text = ReadFile(f.Get("f"));
  if (!text.ok()) return Fail(text.status());
  v1::ApplyPolicyRequest req;
  req.set_yaml(*text);
  req.set_source_name(f.Get("f"));
  req.set_comment(f.Get("comment"));
  req.set_dry_run(f.Has("dry-run"));
  v1::ApplyPolicyResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Apply, req, &out);
  if (!s.ok()) return FailRpc(s);
  PrintChange(out, f.Has("dry-run"));
  return kExitOk;
}

int RunGet(const Flags& f, PolicyClient& admin) {
  auto revision = f.GetUint("revision");
  if (!revision.ok()) return Fail(revision.status());
  v1::GetPolicyRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_revision(*revision);
  v1::GetPolicyResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Get, req, &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << "# revision " << out.revision() << "\n"
            << Json(out.document(), /*pretty=*/true) << "\n";
  return kExitOk;
}

int RunList(const Flags&, PolicyClient& admin) {
  v1::ListPoliciesResponse out;
  absl::Status s =
      admin.Call(&v1::PolicyAdmin::Stub::List, v1::ListPoliciesRequest(), &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << "policy revision " << out.revision() << ", "
            << out.pending_changes() << " pending change(s)\n";
  for (const auto& d : out.datasets()) {
    std::cout << "  " << d.dataset() << "  owner " << d.provider_agency()
              << "  " << d.category() << "  grants " << d.grants()
              << "  forbids " << d.forbids()
              << (d.two_person_rule() ? "  two-person" : "")
              << "  last changed "
              << (d.last_changed() ? absl::StrCat("r", d.last_changed())
                                   : std::string("never"))
              << "\n";
  }
  return kExitOk;
}

int RunHistory(const Flags& f, PolicyClient& admin) {
  auto limit = f.GetUint("limit");
  if (!limit.ok()) return Fail(limit.status());
  v1::PolicyHistoryRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_limit(static_cast<uint32_t>(*limit));
  v1::PolicyHistoryResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::History, req, &out);
  if (!s.ok()) return FailRpc(s);
  for (const auto& r : out.revisions()) {
    std::cout << "r" << r.revision() << "  "
              << FormatMicros(r.time_unix_micros()) << "  " << r.action()
              << "  by " << r.author();
    if (!r.approved_by().empty())
      std::cout << ", approved by " << r.approved_by();
    if (r.restored_revision())
      std::cout << "  restores r" << r.restored_revision();
    std::cout << "  changed " << absl::StrJoin(r.changed(), ", ");
    if (!r.comment().empty()) std::cout << "  \"" << r.comment() << "\"";
    std::cout << "\n";
  }
  return kExitOk;
}

int RunDiff(const Flags& f, PolicyClient& admin) {
  auto from = f.GetUint("from");
  auto to = f.GetUint("to");
  if (!from.ok()) return Fail(from.status());
  if (!to.ok()) return Fail(to.status());
  v1::PolicyDiffRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_from_revision(*from);
  req.set_to_revision(*to);
  v1::PolicyDiffResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Diff, req, &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << (out.diff().empty() ? "no difference\n" : out.diff());
  return kExitOk;
}

int RunRollback(const Flags& f, PolicyClient& admin) {
  auto to = f.GetUint("to");
  if (!to.ok()) return Fail(to.status());
  v1::RollbackPolicyRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_to_revision(*to);
  req.set_comment(f.Get("comment"));
  v1::ApplyPolicyResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Rollback, req, &out);
  if (!s.ok()) return FailRpc(s);
  PrintChange(out, false);
  return kExitOk;
}

int RunPending(const Flags&, PolicyClient& admin) {
  v1::ListPendingResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::ListPending,
                              v1::ListPendingRequest(), &out);
  if (!s.ok()) return FailRpc(s);
  if (out.changes().empty()) std::cout << "no pending changes\n";
  for (const auto& c : out.changes()) {
    std::vector<std::string> changed;
    for (const auto& d : c.document().datasets())
      changed.push_back(d.dataset());
    if (c.document().has_directory()) changed.push_back("directory");
    std::cout << c.id() << "  " << FormatMicros(c.time_unix_micros()) << "  "
              << c.action() << " by " << c.proposer() << "  changes "
              << absl::StrJoin(changed, ", ") << "  (on top of r"
              << c.base_revision() << ")";
    if (!c.comment().empty()) std::cout << "  \"" << c.comment() << "\"";
    std::cout << "\n";
  }
  return kExitOk;
}

int RunApprove(const Flags& f, PolicyClient& admin) {
  if (Arg(f, 0).empty()) return Usage("name the pending change: approve ID");
  v1::ApprovePolicyRequest req;
  req.set_pending_id(Arg(f, 0));
  req.set_comment(f.Get("comment"));
  v1::ApplyPolicyResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Approve, req, &out);
  if (!s.ok()) return FailRpc(s);
  PrintChange(out, false);
  return kExitOk;
}

int RunReject(const Flags& f, PolicyClient& admin) {
  if (Arg(f, 0).empty()) return Usage("name the pending change: reject ID");
  v1::RejectPolicyRequest req;
  req.set_pending_id(Arg(f, 0));
  req.set_comment(f.Get("comment"));
  v1::RejectPolicyResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Reject, req, &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << "rejected " << Arg(f, 0) << "\n";
  return kExitOk;
}

int RunExplain(const Flags& f, PolicyClient& admin) {
  auto at = ParseAt(f.Get("at"));
  if (!at.ok()) return Usage(std::string(at.status().message()));
  v1::ExplainRequest req;
  req.set_consumer_agency(f.Get("consumer"));
  req.set_dataset(f.Get("dataset"));
  req.set_purpose_code(f.Get("purpose"));
  for (absl::string_view field :
       absl::StrSplit(f.Get("fields"), ',', absl::SkipEmpty())) {
    req.add_fields(std::string(field));
  }
  // Key names; a value after '=' is ignored (so `--query citizen_id=0010`,
  // as given to `dxctl call`, works too).
  for (absl::string_view key :
       absl::StrSplit(f.Get("query"), ',', absl::SkipEmpty())) {
    req.add_query_keys(std::string(key.substr(0, key.find('='))));
  }
  req.set_has_data_subject_id(f.Has("subject"));
  req.set_consent_reference(f.Get("consent"));
  req.set_at_unix_micros(*at);
  v1::ExplainResponse out;
  absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Explain, req, &out);
  if (!s.ok()) return FailRpc(s);
  if (f.Has("json")) {
    std::cout << Json(out, /*pretty=*/true) << "\n";
  } else {
    PrintDecision(out, true);
  }
  return kExitOk;
}

const CommandTable& PolicyTable() {
  static const auto* table = new CommandTable{
      "policy",
      "usage: dxctl policy SUBCOMMAND [flags]\n\n",
      R"(
connection: --gateway HOST:PORT --pki DIR --person NAME (or DXCTL_PERSON=NAME),
            or --ca F --cert F --key F
Exit codes: 0 done, 1 refused or failed (or a test case failed), 2 usage error.
)",
      {"gateway", "pki", "person", "agency", "ca", "cert", "key"},
      {},
      {
          {"apply",
           "apply -f FILE [--comment TEXT] [--dry-run]",
           "validate and apply a policy document (YAML); datasets under the\n"
           "two-person rule wait for 'approve'",
           {"f", "comment"},
           {"dry-run"},
           {},
           PolicyRemote(RunApply)},
          {"validate",
           "validate -f FILE [--registry REG.yaml]",
           "check a document against the gateway's registry and active\n"
           "policy; offline against files with --registry",
           {"f", "registry"},
           {},
           {},
           RunPolicyValidate},
          {"get",
           "get [DATASET] [--revision N]",
           "print the policy (JSON, which 'apply' accepts)",
           {"revision"},
           {},
           {"revision"},
           PolicyRemote(RunGet)},
          {"list",
           "list",
           "every dataset: category, grants, forbids, two-person",
           {},
           {},
           {},
           PolicyRemote(RunList)},
          {"history",
           "history [DATASET] [--limit N]",
           "revisions, newest first",
           {"limit"},
           {},
           {"limit"},
           PolicyRemote(RunHistory)},
          {"diff",
           "diff [DATASET] --from N [--to M]",
           "what changed between two revisions",
           {"from", "to"},
           {},
           {"from", "to"},
           PolicyRemote(RunDiff)},
          {"rollback",
           "rollback DATASET --to N [--comment TEXT]",
           "restore a dataset's policy (or 'directory') as of revision N",
           {"to", "comment"},
           {},
           {"to"},
           PolicyRemote(RunRollback)},
          {"pending",
           "pending",
           "changes waiting for a second administrator",
           {},
           {},
           {},
           PolicyRemote(RunPending)},
          {"approve",
           "approve ID [--comment TEXT]",
           "approve another administrator's pending change",
           {"comment"},
           {},
           {},
           PolicyRemote(RunApprove)},
          {"reject",
           "reject ID [--comment TEXT]",
           "reject a pending change",
           {"comment"},
           {},
           {},
           PolicyRemote(RunReject)},
          {"explain",
           "explain --consumer CODE --dataset ID --purpose P [--fields a,b]\n"
           "          [--query KEY,KEY.prefix,...] [--subject] [--consent "
           "REF]\n"
           "          [--at RFC3339] [--json]",
           "would this be allowed, and which rule decides?",
           {"consumer", "dataset", "purpose", "fields", "query", "consent",
            "at"},
           {"subject", "json"},
           {},
           PolicyRemote(RunExplain)},
          {"propose-succession",
           "propose-succession OLD [--comment TEXT] [--dry-run] [--print]",
           "carry the grants and groups of a succeeded agency (registry\n"
           "successions) to its successors, as a reviewed policy change",
           {"comment"},
           {"dry-run", "print"},
           {},
           PolicyRemote(RunProposeSuccession)},
          {"test",
           "test CASES.yaml [--policy FILE --registry REG.yaml]",
           "run decision cases (dx.v1.PolicyTestSuite); exit 1 when one\n"
           "fails; offline with --policy and --registry",
           {"policy", "registry"},
           {},
           {},
           RunPolicyTest},
      }};
  return *table;
}

}  // namespace

std::function<int(const Flags&)> PolicyRemote(
    std::function<int(const Flags&, PolicyClient&)> run) {
  return [run = std::move(run)](const Flags& f) {
    auto remote = RemoteNode::Open(f);
    if (!remote.ok()) return Fail(remote.status());
    PolicyClient admin(*std::move(remote));
    return run(f, admin);
  };
}

void PrintPolicyMessages(
    const google::protobuf::RepeatedPtrField<v1::PolicyMessage>& messages) {
  for (const auto& m : messages)
    std::cout << m.severity() << ": " << m.text() << "\n";
}

int RunPolicy(const std::vector<std::string>& args) {
  return Dispatch(PolicyTable(), args);
}

}  // namespace dx::cli
