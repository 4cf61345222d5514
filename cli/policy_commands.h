// What the files of `dxctl policy` share: the PolicyAdmin client each
// remote subcommand gets, and the test and validate subcommands
// (policy_test_command.cc), which also run offline against files.
#ifndef DX_CLI_POLICY_COMMANDS_H_
#define DX_CLI_POLICY_COMMANDS_H_

#include <functional>

#include "cli/flags.h"
#include "cli/remote.h"
#include "dx/v1/policy.grpc.pb.h"

namespace dx::cli {

using PolicyClient = RemoteService<v1::PolicyAdmin>;

// A subcommand that talks to the gateway's PolicyAdmin service: the
// connection opened from the flags (a failure is the command's exit code).
std::function<int(const Flags&)> PolicyRemote(
    std::function<int(const Flags&, PolicyClient&)> run);

// "severity: text", one a line.
void PrintPolicyMessages(
    const google::protobuf::RepeatedPtrField<v1::PolicyMessage>& messages);

// dxctl policy test CASES.yaml, and validate -f FILE.
int RunPolicyTest(const Flags& flags);
int RunPolicyValidate(const Flags& flags);
// dxctl policy propose-succession OLD (policy_succession_command.cc).
int RunProposeSuccession(const Flags& flags, PolicyClient& admin);

}  // namespace dx::cli

#endif  // DX_CLI_POLICY_COMMANDS_H_
