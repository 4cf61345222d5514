// dxctl: the command-line tool of dxgate. Its top level is a CommandTable
// (cli/command.h) like each command's own; each entry passes the rest of
// the line to the command, which parses its own flags.
//
//   dxctl call ...        build, sign and send a request as an agency; print
//                         the answer and verify the gateway's signature
//   dxctl pki ...         a development PKI; show and verify certificates
//   dxctl audit ...       query, proofs, tree heads, verify, export, subject
//                         reports, prune (cli/audit_command.cc)
//   dxctl policy ...      apply, review, test, explain and roll back sharing
//                         policies (cli/policy_command.cc)
//   dxctl registry ...    change and read a cluster's registry
//   dxctl status          what each node says of itself
//   dxctl console login   a sign-in link for the web console
//
// Run a command with --help for its flags.
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return dx::cli::Dispatch(dx::cli::TopLevelTable(argv[0]), args);
}
