// dxctl's top level: one entry per command, each parsing its own flags.
#include "cli/command.h"
#include "cli/commands.h"

namespace dx::cli {

CommandTable TopLevelTable(const std::string& argv0) {
  auto to = [](int (*run)(const std::vector<std::string>&)) {
    return [run](const std::vector<std::string>& args) { return run(args); };
  };
  return CommandTable{
      "",
      "usage: dxctl COMMAND [flags]\n\ncommands:\n",
      "\nRun 'dxctl COMMAND --help' for a command's flags.\n",
      {},
      {},
      {
          {"call",
           "call ...",
           "build, sign and send a request as an agency; verify the answer",
           {},
           {},
           {},
           nullptr,
           to(RunCall)},
          {"subscribe",
           "subscribe ...",
           "subscribe to a dataset's changes as an agency: print, check, ack",
           {},
           {},
           {},
           nullptr,
           to(RunSubscribe)},
          {"pki",
           "pki init DIR | show CERT | verify CERT --ca ROOT ...",
           "make a development PKI in DIR; print a certificate's dx identity,\n"
           "validity and fingerprint; check it against a CA, intermediates, "
           "CRL",
           {},
           {},
           {},
           nullptr,
           [argv0](const std::vector<std::string>& args) {
             return RunPki(args, argv0.c_str());
           }},
          {"audit",
           "audit ...",
           "search, prove and verify the audit log ('dxctl audit --help')",
           {},
           {},
           {},
           nullptr,
           to(RunAudit)},
          {"report",
           "report day|month DATE",
           "a signed statistics report of a day or month, UTC+7\n"
           "('dxctl report --help')",
           {},
           {},
           {},
           nullptr,
           to(RunReport)},
          {"federation",
           "federation verify-anchor ...",
           "check a federation anchor and print what it vouches for\n"
           "('dxctl federation --help')",
           {},
           {},
           {},
           nullptr,
           to(RunFederation)},
          {"policy",
           "policy ...",
           "apply, review, explain, test and roll back sharing policies\n"
           "('dxctl policy --help')",
           {},
           {},
           {},
           nullptr,
           to(RunPolicy)},
          {"registry",
           "registry ...",
           "change and read a cluster's registry ('dxctl registry --help')",
           {},
           {},
           {},
           nullptr,
           to(RunRegistry)},
          {"status",
           "status",
           "what each node says of itself ('dxctl status --help')",
           {},
           {},
           {},
           nullptr,
           to(RunNodeStatus)},
          {"admin",
           "admin ...",
           "an operator's maintenance: backup ('dxctl admin --help')",
           {},
           {},
           {},
           nullptr,
           to(RunAdmin)},
          {"health",
           "health",
           "a node's gRPC health check, for load balancers\n"
           "('dxctl health --help')",
           {},
           {},
           {},
           nullptr,
           to(RunHealth)},
          {"console",
           "console login",
           "sign in to the web console with your person key\n"
           "('dxctl console --help')",
           {},
           {},
           {},
           nullptr,
           to(RunConsole)},
      }};
}

}  // namespace dx::cli
