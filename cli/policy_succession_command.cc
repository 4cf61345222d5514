// dxctl policy propose-succession OLD: reads the registry's succession of
// OLD and the active policy, and submits the change that carries OLD's
// grants and group memberships to its successors through the ordinary
// Apply (reviewed; the two-person rule applies to protected datasets).
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/policy_commands.h"
#include "cli/succession_proposal.h"
#include "dx/v1/registry.grpc.pb.h"

namespace dx::cli {

int RunProposeSuccession(const Flags& f, PolicyClient& admin) {
  const std::string old_code =
      f.positional().empty() ? std::string() : f.positional()[0];
  if (old_code.empty()) {
    return Fail("policy",
                absl::InvalidArgumentError(
                    "name the old agency code: propose-succession OLD"));
  }
  v1::GetRegistryResponse reg;
  auto registry = v1::RegistryAdmin::NewStub(admin.node().channel());
  absl::Status s = RemoteNode::Call(*registry, &v1::RegistryAdmin::Stub::Get,
                                    v1::GetRegistryRequest(), &reg);
  if (!s.ok()) return FailRpc("policy", s);
  v1::GetPolicyResponse policy;
  s = admin.Call(&v1::PolicyAdmin::Stub::Get, v1::GetPolicyRequest(), &policy);
  if (!s.ok()) return FailRpc("policy", s);
  auto proposal =
      ProposeSuccession(policy.document(), reg.registry(), old_code);
  if (!proposal.ok()) return Fail("policy", proposal.status());

  for (const std::string& n : proposal->notes) std::cout << n << "\n";
  if (proposal->change.datasets().empty() &&
      !proposal->change.has_directory()) {
    std::cout << "no change: every grant of " << old_code
              << " is already carried to "
              << absl::StrJoin(proposal->successors, ", ") << " (revision "
              << policy.revision() << ")\n";
    return kExitOk;
  }
  if (f.Has("print")) {
    std::cout << Json(proposal->change, /*pretty=*/true) << "\n";
    return kExitOk;
  }
  v1::ApplyPolicyRequest req;
  req.set_yaml(Json(proposal->change, /*pretty=*/false));
  req.set_source_name(absl::StrCat("succession of ", old_code));
  req.set_comment(
      f.Has("comment")
          ? f.Get("comment")
          : absl::StrCat("succession: ", old_code, " -> ",
                         absl::StrJoin(proposal->successors, ", ")));
  req.set_dry_run(f.Has("dry-run"));
  v1::ApplyPolicyResponse out;
  s = admin.Call(&v1::PolicyAdmin::Stub::Apply, req, &out);
  if (!s.ok()) return FailRpc("policy", s);
  PrintPolicyMessages(out.messages());
  const std::string changed = absl::StrJoin(out.changed(), ", ");
  if (f.Has("dry-run")) {
    std::cout << "dry run: would change " << changed << "\n";
  } else if (!out.pending_id().empty()) {
    std::cout << "pending " << out.pending_id() << ": " << changed
              << " is under the two-person rule; another policy "
                 "administrator must run\n  dxctl policy approve "
              << out.pending_id() << "\n";
  } else {
    std::cout << "revision " << out.revision() << ": changed " << changed
              << " (in effect now)\n";
  }
  return kExitOk;
}

}  // namespace dx::cli
