// The dxctl commands; each returns the process exit code (cli/output.h):
// 0 success, 1 refused or failed, 2 usage error, 3 verification failed.
#ifndef DX_CLI_COMMANDS_H_
#define DX_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "cli/command.h"

namespace dx::cli {

int RunCall(const std::vector<std::string>& args);
int RunSubscribe(const std::vector<std::string>& args);
int RunPki(const std::vector<std::string>& args, const char* argv0);
int RunAudit(const std::vector<std::string>& args);
int RunPolicy(const std::vector<std::string>& args);
int RunRegistry(const std::vector<std::string>& args);
int RunNodeStatus(const std::vector<std::string>& args);
int RunHealth(const std::vector<std::string>& args);
int RunAdmin(const std::vector<std::string>& args);
int RunConsole(const std::vector<std::string>& args);
int RunReport(const std::vector<std::string>& args);
int RunFederation(const std::vector<std::string>& args);

// The top level: each command above by name. `argv0` is dxctl's own path
// (pki init runs the PKI script beside it).
CommandTable TopLevelTable(const std::string& argv0);

}  // namespace dx::cli

#endif  // DX_CLI_COMMANDS_H_
