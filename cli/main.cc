// dxctl: the command-line tool of dxgate.
//
//   dxctl call ...        build, sign and send a request as an agency; print
//                         the answer and verify the gateway's signature
//   dxctl pki init DIR    make a development PKI (certs/make-dev-pki.sh)
//   dxctl pki show CERT   print a certificate's dx identity and validity
//   dxctl pki verify CERT check a certificate against a CA, intermediates, CRL
//   dxctl audit ...       query, proofs, tree heads, verify, export, subject
//                         reports, prune (cli/audit_command.cc)
//   dxctl policy ...      apply, review, test, explain and roll back sharing
//                         policies (cli/policy_command.cc)
//   dxctl registry ...    change and read a cluster's registry
//   dxctl status          what each node says of itself
//   dxctl console login   a sign-in link for the web console
//
// Run a command with --help for its flags.
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/commands.h"

namespace {

constexpr char kUsage[] = R"(usage: dxctl COMMAND [flags]

commands:
  call          build, sign and send a request as an agency; verify the answer
  pki init DIR  make a development PKI in DIR
  pki show CERT print a certificate's dx identity, validity and fingerprint
  pki verify CERT --ca ROOT [--intermediates F] [--crl F]
  audit ...     search, prove and verify the audit log ('dxctl audit --help')
  policy ...    apply, review, explain, test and roll back sharing policies
                ('dxctl policy --help')
  registry ...  change and read a cluster's registry ('dxctl registry --help')
  status        what each node says of itself ('dxctl status --help')
  admin         an operator's maintenance: backup ('dxctl admin --help')
  health        a node's gRPC health check, for load balancers ('dxctl health --help')
  console login sign in to the web console with your person key ('dxctl console --help')

Run 'dxctl COMMAND --help' for a command's flags.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "call") return dx::cli::RunCall(args);
  if (cmd == "pki") return dx::cli::RunPki(args, argv[0]);
  if (cmd == "audit") return dx::cli::RunAudit(args);
  if (cmd == "policy") return dx::cli::RunPolicy(args);
  if (cmd == "registry") return dx::cli::RunRegistry(args);
  if (cmd == "status") return dx::cli::RunNodeStatus(args);
  if (cmd == "admin") return dx::cli::RunAdmin(args);
  if (cmd == "health") return dx::cli::RunHealth(args);
  if (cmd == "console") return dx::cli::RunConsole(args);
  std::cerr << "dxctl: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
