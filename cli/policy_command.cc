// dxctl policy: read, change, review, test and roll back sharing policies
// through a gateway's PolicyAdmin service; `validate` and `test` also run
// offline against files (--registry), for a policy repository's CI.
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/agency_client.h"
#include "cli/channel.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"
#include "dx/v1/policy.grpc.pb.h"
#include "policy/explain.h"
#include "policy/snapshot.h"
#include "registry/registry.h"

namespace dx::cli {
namespace {

int Fail(const std::string& what) {
  return cli::Fail("policy", absl::FailedPreconditionError(what));
}
int Usage(const std::string& what) {
  return cli::Fail("policy", absl::InvalidArgumentError(what));
}
int Fail(const absl::Status& s) { return cli::Fail("policy", s); }

int FailRpc(const grpc::Status& s) {
  return cli::FailRpc("policy", s.error_code(), s.error_message());
}

void PrintMessages(
    const google::protobuf::RepeatedPtrField<v1::PolicyMessage>& messages) {
  for (const auto& m : messages)
    std::cout << m.severity() << ": " << m.text() << "\n";
}

std::string FormatMicros(int64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

void PrintChange(const v1::ApplyPolicyResponse& r, bool dry_run) {
  PrintMessages(r.messages());
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

absl::StatusOr<int64_t> ParseAt(const std::string& text) {
  if (text.empty()) return 0;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--at '", text, "' is not RFC 3339 (", err, ")"));
  }
  return absl::ToUnixMicros(t);
}

// Compiles --policy against --registry; prints problems with file:line.
absl::StatusOr<std::shared_ptr<const policy::PolicySnapshot>> CompileFiles(
    const std::string& policy_file, const std::string& registry_file,
    bool print_problems, bool* had_errors) {
  DX_ASSIGN_OR_RETURN(std::shared_ptr<const registry::Registry> registry,
                      registry::Registry::LoadFile(registry_file));
  DX_ASSIGN_OR_RETURN(std::string text, ReadFile(policy_file));
  v1::PolicyDocument doc;
  YamlLines lines;
  absl::Status s = YamlToProto(text, policy_file, &doc, &lines);
  if (!s.ok()) return s;
  std::vector<policy::PolicyProblem> problems;
  auto snap = policy::PolicySnapshot::Compile(registry, doc, nullptr, 0,
                                              absl::Now(), &problems);
  *had_errors = !snap.ok();
  if (print_problems) {
    for (const auto& p : problems) {
      std::string where = policy_file;
      if (int line = LineOf(lines, p.path); line > 0)
        absl::StrAppend(&where, ":", line);
      std::cout << (p.error ? "error: " : "warning: ") << where << ": field '"
                << p.path << "': " << p.message << "\n";
    }
  }
  return snap;
}

v1::ExplainRequest ExplainRequestOf(const v1::PolicyTestCase& c,
                                    int64_t at_micros) {
  v1::ExplainRequest r;
  r.set_consumer_agency(c.agency());
  r.set_dataset(c.dataset());
  r.set_purpose_code(c.purpose());
  *r.mutable_fields() = c.fields();
  *r.mutable_query_keys() = c.query();
  r.set_has_data_subject_id(c.with_subject());
  r.set_consent_reference(c.consent());
  r.set_at_unix_micros(at_micros);
  return r;
}

// What is wrong with `got` for case `c`; empty when it passes.
std::string CheckCase(const v1::PolicyTestCase& c,
                      const v1::ExplainResponse& got) {
  std::vector<std::string> wrong;
  const bool want_allow = c.expect() == "allow";
  if (got.allowed() != want_allow) {
    wrong.push_back(absl::StrCat(
        "expected ", c.expect(), ", got ", got.allowed() ? "allow" : "deny",
        got.allowed() ? "" : absl::StrCat(" (", got.message(), ")")));
  }
  if (!c.rule().empty() && got.rule_id() != c.rule()) {
    wrong.push_back(
        absl::StrCat("expected rule ", c.rule(), ", got ", got.rule_id()));
  }
  if (!c.expect_fields().empty() && absl::StrJoin(c.expect_fields(), ",") !=
                                        absl::StrJoin(got.fields(), ",")) {
    wrong.push_back(absl::StrCat(
        "expected fields [", absl::StrJoin(c.expect_fields(), ", "), "], got [",
        absl::StrJoin(got.fields(), ", "), "]"));
  }
  if (!c.expect_masks().empty() &&
      absl::StrJoin(c.expect_masks(), ",") != absl::StrJoin(got.masks(), ",")) {
    wrong.push_back(
        absl::StrCat("expected masks [", absl::StrJoin(c.expect_masks(), ", "),
                     "], got [", absl::StrJoin(got.masks(), ", "), "]"));
  }
  if (!c.expect_reason().empty()) {
    std::string want = c.expect_reason();
    if (want.rfind("REASON_", 0) != 0) {
      want = "REASON_" + want;
      for (char& ch : want) ch = absl::ascii_toupper(ch);
    }
    if (v1::ReasonCode_Name(got.reason()) != want) {
      wrong.push_back(absl::StrCat("expected reason ", want, ", got ",
                                   v1::ReasonCode_Name(got.reason())));
    }
  }
  return absl::StrJoin(wrong, "; ");
}

int RunTest(const Flags& f, const std::string& cases_file) {
  v1::PolicyTestSuite suite;
  if (absl::Status s = LoadYamlFile(cases_file, &suite); !s.ok()) {
    return Fail(s);
  }
  std::function<absl::StatusOr<v1::ExplainResponse>(const v1::ExplainRequest&)>
      explain;
  std::shared_ptr<const policy::PolicySnapshot> snap;
  std::unique_ptr<v1::PolicyAdmin::Stub> stub;
  if (f.Has("policy")) {
    if (!f.Has("registry"))
      return Fail("offline tests need --registry as well as --policy");
    bool errors = false;
    auto compiled =
        CompileFiles(f.Get("policy"), f.Get("registry"), true, &errors);
    if (!compiled.ok()) return Fail(compiled.status());
    snap = *compiled;
    explain = [&](const v1::ExplainRequest& r)
        -> absl::StatusOr<v1::ExplainResponse> {
      return policy::Explain(*snap, r, absl::Now());
    };
  } else {
    auto channel = OpenGatewayChannel(f, "admin1");
    if (!channel.ok()) return Fail(channel.status());
    stub = v1::PolicyAdmin::NewStub(*channel);
    explain = [&](const v1::ExplainRequest& r)
        -> absl::StatusOr<v1::ExplainResponse> {
      grpc::ClientContext ctx;
      v1::ExplainResponse out;
      grpc::Status s = stub->Explain(&ctx, r, &out);
      if (!s.ok()) {
        return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                            s.error_message());
      }
      return out;
    };
  }
  int failed = 0;
  for (int i = 0; i < suite.cases_size(); ++i) {
    const v1::PolicyTestCase& c = suite.cases(i);
    const std::string name =
        c.name().empty() ? absl::StrCat("case ", i + 1) : c.name();
    if (c.expect() != "allow" && c.expect() != "deny") {
      std::cout << "FAIL " << name << ": expect must be allow or deny\n";
      ++failed;
      continue;
    }
    auto at = ParseAt(c.at());
    if (!at.ok()) {
      std::cout << "FAIL " << name << ": " << at.status().message() << "\n";
      ++failed;
      continue;
    }
    auto got = explain(ExplainRequestOf(c, *at));
    if (!got.ok()) return Fail(got.status());
    const std::string wrong = CheckCase(c, *got);
    if (wrong.empty()) {
      std::cout << "ok   " << name << "\n";
    } else {
      std::cout << "FAIL " << name << ": " << wrong << "\n";
      ++failed;
    }
  }
  std::cout << suite.cases_size() - failed << " passed, " << failed
            << " failed\n";
  return failed == 0 ? 0 : 1;
}

// A subcommand that talks to the gateway's PolicyAdmin service.
using RemoteFn = std::function<int(const Flags&, v1::PolicyAdmin::Stub&,
                                   grpc::ClientContext&)>;
std::function<int(const Flags&)> Remote(RemoteFn run) {
  return [run = std::move(run)](const Flags& f) {
    auto channel = OpenGatewayChannel(f, "admin1");
    if (!channel.ok()) return Fail(channel.status());
    auto stub = v1::PolicyAdmin::NewStub(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    return run(f, *stub, ctx);
  };
}

std::string Arg(const Flags& f, size_t i) {
  return i < f.positional().size() ? f.positional()[i] : std::string();
}

int RunTestCommand(const Flags& f) {
  if (f.positional().empty()) {
    return Usage("name the cases file: dxctl policy test CASES.yaml");
  }
  return RunTest(f, f.positional()[0]);
}

int RunValidate(const Flags& f) {
  if (!f.Has("f")) return Usage("name the document: -f FILE");
  if (f.Has("registry")) {  // offline
    bool errors = false;
    auto snap = CompileFiles(f.Get("f"), f.Get("registry"), true, &errors);
    if (!snap.ok() && !errors) return Fail(snap.status());
    std::cout << (errors ? "invalid" : "valid") << "\n";
    return errors ? kExitFailed : kExitOk;
  }
  return Remote([](const Flags& f, v1::PolicyAdmin::Stub& stub,
                   grpc::ClientContext& ctx) {
    auto text = ReadFile(f.Get("f"));
    if (!text.ok()) return Fail(text.status());
    v1::ValidatePolicyRequest req;
    req.set_yaml(*text);
    req.set_source_name(f.Get("f"));
    v1::ValidatePolicyResponse out;
    grpc::Status s = stub.Validate(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    PrintMessages(out.messages());
    std::cout << (out.ok() ? "valid" : "invalid") << "\n";
    return out.ok() ? kExitOk : kExitFailed;
  })(f);
}

int RunApply(const Flags& f, v1::PolicyAdmin::Stub& stub,
             grpc::ClientContext& ctx) {
  if (!f.Has("f")) return Usage("name the document: -f FILE");
  auto text = ReadFile(f.Get("f"));
  if (!text.ok()) return Fail(text.status());
  v1::ApplyPolicyRequest req;
  req.set_yaml(*text);
  req.set_source_name(f.Get("f"));
  req.set_comment(f.Get("comment"));
  req.set_dry_run(f.Has("dry-run"));
  v1::ApplyPolicyResponse out;
  grpc::Status s = stub.Apply(&ctx, req, &out);
  if (!s.ok()) return FailRpc(s);
  PrintChange(out, f.Has("dry-run"));
  return kExitOk;
}

int RunGet(const Flags& f, v1::PolicyAdmin::Stub& stub,
           grpc::ClientContext& ctx) {
  auto revision = f.GetUint("revision");
  if (!revision.ok()) return Fail(revision.status());
  v1::GetPolicyRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_revision(*revision);
  v1::GetPolicyResponse out;
  grpc::Status s = stub.Get(&ctx, req, &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << "# revision " << out.revision() << "\n"
            << Json(out.document(), /*pretty=*/true) << "\n";
  return kExitOk;
}

int RunList(const Flags&, v1::PolicyAdmin::Stub& stub,
            grpc::ClientContext& ctx) {
  v1::ListPoliciesResponse out;
  grpc::Status s = stub.List(&ctx, v1::ListPoliciesRequest(), &out);
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

int RunHistory(const Flags& f, v1::PolicyAdmin::Stub& stub,
               grpc::ClientContext& ctx) {
  auto limit = f.GetUint("limit");
  if (!limit.ok()) return Fail(limit.status());
  v1::PolicyHistoryRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_limit(static_cast<uint32_t>(*limit));
  v1::PolicyHistoryResponse out;
  grpc::Status s = stub.History(&ctx, req, &out);
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

int RunDiff(const Flags& f, v1::PolicyAdmin::Stub& stub,
            grpc::ClientContext& ctx) {
  auto from = f.GetUint("from");
  auto to = f.GetUint("to");
  if (!from.ok()) return Fail(from.status());
  if (!to.ok()) return Fail(to.status());
  v1::PolicyDiffRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_from_revision(*from);
  req.set_to_revision(*to);
  v1::PolicyDiffResponse out;
  grpc::Status s = stub.Diff(&ctx, req, &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << (out.diff().empty() ? "no difference\n" : out.diff());
  return kExitOk;
}

int RunRollback(const Flags& f, v1::PolicyAdmin::Stub& stub,
                grpc::ClientContext& ctx) {
  auto to = f.GetUint("to");
  if (!to.ok()) return Fail(to.status());
  v1::RollbackPolicyRequest req;
  req.set_dataset(Arg(f, 0));
  req.set_to_revision(*to);
  req.set_comment(f.Get("comment"));
  v1::ApplyPolicyResponse out;
  grpc::Status s = stub.Rollback(&ctx, req, &out);
  if (!s.ok()) return FailRpc(s);
  PrintChange(out, false);
  return kExitOk;
}

int RunPending(const Flags&, v1::PolicyAdmin::Stub& stub,
               grpc::ClientContext& ctx) {
  v1::ListPendingResponse out;
  grpc::Status s = stub.ListPending(&ctx, v1::ListPendingRequest(), &out);
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

int RunApprove(const Flags& f, v1::PolicyAdmin::Stub& stub,
               grpc::ClientContext& ctx) {
  if (Arg(f, 0).empty()) return Usage("name the pending change: approve ID");
  v1::ApprovePolicyRequest req;
  req.set_pending_id(Arg(f, 0));
  req.set_comment(f.Get("comment"));
  v1::ApplyPolicyResponse out;
  grpc::Status s = stub.Approve(&ctx, req, &out);
  if (!s.ok()) return FailRpc(s);
  PrintChange(out, false);
  return kExitOk;
}

int RunReject(const Flags& f, v1::PolicyAdmin::Stub& stub,
              grpc::ClientContext& ctx) {
  if (Arg(f, 0).empty()) return Usage("name the pending change: reject ID");
  v1::RejectPolicyRequest req;
  req.set_pending_id(Arg(f, 0));
  req.set_comment(f.Get("comment"));
  v1::RejectPolicyResponse out;
  grpc::Status s = stub.Reject(&ctx, req, &out);
  if (!s.ok()) return FailRpc(s);
  std::cout << "rejected " << Arg(f, 0) << "\n";
  return kExitOk;
}

int RunExplain(const Flags& f, v1::PolicyAdmin::Stub& stub,
               grpc::ClientContext& ctx) {
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
  grpc::Status s = stub.Explain(&ctx, req, &out);
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
connection: --gateway HOST:PORT --pki DIR [--person NAME] (default admin1),
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
           Remote(RunApply)},
          {"validate",
           "validate -f FILE [--registry REG.yaml]",
           "check a document against the gateway's registry and active\n"
           "policy; offline against files with --registry",
           {"f", "registry"},
           {},
           {},
           RunValidate},
          {"get",
           "get [DATASET] [--revision N]",
           "print the policy (JSON, which 'apply' accepts)",
           {"revision"},
           {},
           {"revision"},
           Remote(RunGet)},
          {"list",
           "list",
           "every dataset: category, grants, forbids, two-person",
           {},
           {},
           {},
           Remote(RunList)},
          {"history",
           "history [DATASET] [--limit N]",
           "revisions, newest first",
           {"limit"},
           {},
           {"limit"},
           Remote(RunHistory)},
          {"diff",
           "diff [DATASET] --from N [--to M]",
           "what changed between two revisions",
           {"from", "to"},
           {},
           {"from", "to"},
           Remote(RunDiff)},
          {"rollback",
           "rollback DATASET --to N [--comment TEXT]",
           "restore a dataset's policy (or 'directory') as of revision N",
           {"to", "comment"},
           {},
           {"to"},
           Remote(RunRollback)},
          {"pending",
           "pending",
           "changes waiting for a second administrator",
           {},
           {},
           {},
           Remote(RunPending)},
          {"approve",
           "approve ID [--comment TEXT]",
           "approve another administrator's pending change",
           {"comment"},
           {},
           {},
           Remote(RunApprove)},
          {"reject",
           "reject ID [--comment TEXT]",
           "reject a pending change",
           {"comment"},
           {},
           {},
           Remote(RunReject)},
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
           Remote(RunExplain)},
          {"test",
           "test CASES.yaml [--policy FILE --registry REG.yaml]",
           "run decision cases (dx.v1.PolicyTestSuite); exit 1 when one\n"
           "fails; offline with --policy and --registry",
           {"policy", "registry"},
           {},
           {},
           RunTestCommand},
      }};
  return *table;
}

}  // namespace

int RunPolicy(const std::vector<std::string>& args) {
  return Dispatch(PolicyTable(), args);
}

}  // namespace dx::cli
