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
#include "cli/commands.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"
#include "dx/v1/policy.grpc.pb.h"
#include "policy/explain.h"
#include "policy/policy_admin.h"
#include "policy/snapshot.h"

namespace dx::cli {
namespace {

constexpr char kHelp[] = R"(usage: dxctl policy SUBCOMMAND [flags]

  apply -f FILE [--comment TEXT] [--dry-run]
                         validate and apply a policy document (YAML); datasets
                         under the two-person rule wait for 'approve'
  validate -f FILE       check a document against the gateway's registry and
                         active policy; offline with --registry REG.yaml
  get [DATASET] [--revision N]
                         print the policy (JSON, which 'apply' accepts)
  list                   every dataset: category, grants, forbids, two-person
  history [DATASET] [--limit N]
  diff [DATASET] --from N [--to M]
  rollback DATASET --to N [--comment TEXT]   (DATASET may be 'directory')
  pending                changes waiting for a second administrator
  approve ID [--comment TEXT]
  reject ID [--comment TEXT]
  explain --consumer CODE --dataset ID --purpose P [--fields a,b] [--subject]
          [--consent REF] [--at RFC3339]
                         would this be allowed, and which rule decides?
  test CASES.yaml        run decision cases (dx.v1.PolicyTestSuite); exit 1
                         when one fails. Offline: --policy FILE --registry REG

connection: --gateway HOST:PORT --pki DIR [--person NAME] (default admin1),
            or --ca F --cert F --key F
)";

int Fail(const std::string& what) {
  std::cerr << "dxctl policy: " << what << "\n";
  return 1;
}

int FailRpc(const grpc::Status& s) {
  std::cerr << "dxctl policy: " << GrpcCodeName(s.error_code()) << ": "
            << s.error_message() << "\n";
  return 1;
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
  v1::Registry registry;
  absl::Status s = LoadYamlFile(registry_file, &registry);
  if (!s.ok()) return s;
  DX_ASSIGN_OR_RETURN(std::string text, ReadFile(policy_file));
  v1::PolicyDocument doc;
  YamlLines lines;
  s = YamlToProto(text, policy_file, &doc, &lines);
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
    return Fail(std::string(s.message()));
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
    if (!compiled.ok()) return Fail(std::string(compiled.status().message()));
    snap = *compiled;
    explain = [&](const v1::ExplainRequest& r)
        -> absl::StatusOr<v1::ExplainResponse> {
      return policy::Explain(*snap, r, absl::Now());
    };
  } else {
    auto channel = OpenGatewayChannel(f, "admin1");
    if (!channel.ok()) return Fail(std::string(channel.status().message()));
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
    if (!got.ok()) return Fail(std::string(got.status().message()));
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

}  // namespace

int RunPolicy(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kHelp;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  auto parsed = Flags::Parse(
      {args.begin() + 1, args.end()},
      {"gateway",  "pki",     "person",  "agency",   "ca",      "cert",
       "key",      "f",       "comment", "revision", "limit",   "from",
       "to",       "dataset", "purpose", "fields",   "consent", "at",
       "registry", "policy",  "consumer"},
      {"dry-run", "subject", "json", "trace", "help"});
  if (!parsed.ok()) {
    std::cerr << "dxctl policy: " << parsed.status().message() << "\n" << kHelp;
    return 2;
  }
  const Flags& f = *parsed;
  const std::vector<std::string>& pos = f.positional();
  auto arg = [&](size_t i) { return i < pos.size() ? pos[i] : std::string(); };
  auto number = [&](const std::string& name) -> uint64_t {
    uint64_t v = 0;
    if (f.Has(name) && !absl::SimpleAtoi(f.Get(name), &v)) v = UINT64_MAX;
    return v;
  };

  // Offline: no gateway needed.
  if (sub == "test") {
    if (pos.empty())
      return Fail("name the cases file: dxctl policy test CASES.yaml");
    return RunTest(f, pos[0]);
  }
  if (sub == "validate" && f.Has("registry")) {
    if (!f.Has("f")) return Fail("name the document: -f FILE");
    bool errors = false;
    auto snap = CompileFiles(f.Get("f"), f.Get("registry"), true, &errors);
    if (!snap.ok() && !errors)
      return Fail(std::string(snap.status().message()));
    std::cout << (errors ? "invalid" : "valid") << "\n";
    return errors ? 1 : 0;
  }

  auto channel = OpenGatewayChannel(f, "admin1");
  if (!channel.ok()) return Fail(std::string(channel.status().message()));
  auto stub = v1::PolicyAdmin::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));

  if (sub == "apply" || sub == "validate") {
    if (!f.Has("f")) return Fail("name the document: -f FILE");
    auto text = ReadFile(f.Get("f"));
    if (!text.ok()) return Fail(std::string(text.status().message()));
    if (sub == "validate") {
      v1::ValidatePolicyRequest req;
      req.set_yaml(*text);
      req.set_source_name(f.Get("f"));
      v1::ValidatePolicyResponse out;
      grpc::Status s = stub->Validate(&ctx, req, &out);
      if (!s.ok()) return FailRpc(s);
      PrintMessages(out.messages());
      std::cout << (out.ok() ? "valid" : "invalid") << "\n";
      return out.ok() ? 0 : 1;
    }
    v1::ApplyPolicyRequest req;
    req.set_yaml(*text);
    req.set_source_name(f.Get("f"));
    req.set_comment(f.Get("comment"));
    req.set_dry_run(f.Has("dry-run"));
    v1::ApplyPolicyResponse out;
    grpc::Status s = stub->Apply(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    PrintChange(out, f.Has("dry-run"));
    return 0;
  }
  if (sub == "get") {
    v1::GetPolicyRequest req;
    req.set_dataset(arg(0));
    req.set_revision(number("revision"));
    v1::GetPolicyResponse out;
    grpc::Status s = stub->Get(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    std::cout << "# revision " << out.revision() << "\n"
              << policy::PolicyAdmin::ToJson(out.document()) << "\n";
    return 0;
  }
  if (sub == "list") {
    v1::ListPoliciesResponse out;
    grpc::Status s = stub->List(&ctx, v1::ListPoliciesRequest(), &out);
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
    return 0;
  }
  if (sub == "history") {
    v1::PolicyHistoryRequest req;
    req.set_dataset(arg(0));
    req.set_limit(static_cast<uint32_t>(number("limit")));
    v1::PolicyHistoryResponse out;
    grpc::Status s = stub->History(&ctx, req, &out);
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
    return 0;
  }
  if (sub == "diff") {
    v1::PolicyDiffRequest req;
    req.set_dataset(arg(0));
    req.set_from_revision(number("from"));
    req.set_to_revision(number("to"));
    v1::PolicyDiffResponse out;
    grpc::Status s = stub->Diff(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    std::cout << (out.diff().empty() ? "no difference\n" : out.diff());
    return 0;
  }
  if (sub == "rollback") {
    v1::RollbackPolicyRequest req;
    req.set_dataset(arg(0));
    req.set_to_revision(number("to"));
    req.set_comment(f.Get("comment"));
    v1::ApplyPolicyResponse out;
    grpc::Status s = stub->Rollback(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    PrintChange(out, false);
    return 0;
  }
  if (sub == "pending") {
    v1::ListPendingResponse out;
    grpc::Status s = stub->ListPending(&ctx, v1::ListPendingRequest(), &out);
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
    return 0;
  }
  if (sub == "approve") {
    v1::ApprovePolicyRequest req;
    req.set_pending_id(arg(0));
    req.set_comment(f.Get("comment"));
    v1::ApplyPolicyResponse out;
    grpc::Status s = stub->Approve(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    PrintChange(out, false);
    return 0;
  }
  if (sub == "reject") {
    v1::RejectPolicyRequest req;
    req.set_pending_id(arg(0));
    req.set_comment(f.Get("comment"));
    v1::RejectPolicyResponse out;
    grpc::Status s = stub->Reject(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    std::cout << "rejected " << arg(0) << "\n";
    return 0;
  }
  if (sub == "explain") {
    auto at = ParseAt(f.Get("at"));
    if (!at.ok()) return Fail(std::string(at.status().message()));
    v1::ExplainRequest req;
    req.set_consumer_agency(f.Get("consumer"));
    req.set_dataset(f.Get("dataset"));
    req.set_purpose_code(f.Get("purpose"));
    for (absl::string_view field :
         absl::StrSplit(f.Get("fields"), ',', absl::SkipEmpty())) {
      req.add_fields(std::string(field));
    }
    req.set_has_data_subject_id(f.Has("subject"));
    req.set_consent_reference(f.Get("consent"));
    req.set_at_unix_micros(*at);
    v1::ExplainResponse out;
    grpc::Status s = stub->Explain(&ctx, req, &out);
    if (!s.ok()) return FailRpc(s);
    if (f.Has("json")) {
      std::cout << policy::PolicyAdmin::ToJson(out) << "\n";
    } else {
      PrintDecision(out, true);
    }
    return 0;
  }
  std::cerr << "dxctl policy: unknown subcommand '" << sub << "'\n" << kHelp;
  return 2;
}

}  // namespace dx::cli
