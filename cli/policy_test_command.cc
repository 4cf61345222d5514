// dxctl policy test and validate: a policy's test cases and its validity,
// checked against a gateway (as a policy administrator) or offline against
// files (--policy/-f with --registry), for a policy repository's CI.
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/output.h"
#include "cli/policy_cases.h"
#include "cli/policy_commands.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"
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
int FailRpc(const absl::Status& s) { return cli::FailRpc("policy", s); }

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

int RunTest(const Flags& f, const std::string& cases_file) {
  v1::PolicyTestSuite suite;
  if (absl::Status s = LoadYamlFile(cases_file, &suite); !s.ok()) {
    return Fail(s);
  }
  std::function<absl::StatusOr<v1::ExplainResponse>(const v1::ExplainRequest&)>
      explain;
  std::shared_ptr<const policy::PolicySnapshot> snap;
  std::unique_ptr<PolicyClient> admin;
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
    auto remote = RemoteNode::Open(f);
    if (!remote.ok()) return Fail(remote.status());
    admin = std::make_unique<PolicyClient>(*std::move(remote));
    explain = [&](const v1::ExplainRequest& r)
        -> absl::StatusOr<v1::ExplainResponse> {
      v1::ExplainResponse out;
      DX_RETURN_IF_ERROR(admin->Call(&v1::PolicyAdmin::Stub::Explain, r, &out));
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

}  // namespace

int RunPolicyTest(const Flags& f) {
  if (f.positional().empty()) {
    return Usage("name the cases file: dxctl policy test CASES.yaml");
  }
  return RunTest(f, f.positional()[0]);
}

int RunPolicyValidate(const Flags& f) {
  if (!f.Has("f")) return Usage("name the document: -f FILE");
  if (f.Has("registry")) {  // offline
    bool errors = false;
    auto snap = CompileFiles(f.Get("f"), f.Get("registry"), true, &errors);
    if (!snap.ok() && !errors) return Fail(snap.status());
    std::cout << (errors ? "invalid" : "valid") << "\n";
    return errors ? kExitFailed : kExitOk;
  }
  return PolicyRemote([](const Flags& f, PolicyClient& admin) {
    auto text = ReadFile(f.Get("f"));
    if (!text.ok()) return Fail(text.status());
    v1::ValidatePolicyRequest req;
    req.set_yaml(*text);
    req.set_source_name(f.Get("f"));
    v1::ValidatePolicyResponse out;
    absl::Status s = admin.Call(&v1::PolicyAdmin::Stub::Validate, req, &out);
    if (!s.ok()) return FailRpc(s);
    PrintPolicyMessages(out.messages());
    std::cout << (out.ok() ? "valid" : "invalid") << "\n";
    return out.ok() ? kExitOk : kExitFailed;
  })(f);
}

}  // namespace dx::cli
