#include "adapters/sdk/adapter_main.h"

#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/library_logs.h"
#include "common/log.h"
#include "common/signals.h"

namespace dx::adapters {

absl::Status ServeUntilSignal(const std::string& program,
                              AdapterServer::Options options,
                              AdapterServer::Sources sources,
                              const std::string& port_file,
                              const std::string& metrics_port_file) {
  DX_ASSIGN_OR_RETURN(auto server, AdapterServer::Start(std::move(options),
                                                        std::move(sources)));
  LogEvent(program, "info", "serving", {{"port", server->port()}});
  if (server->metrics_port() != 0) {
    LogEvent(program, "info", "metrics", {{"port", server->metrics_port()}});
    if (!metrics_port_file.empty()) {
      DX_RETURN_IF_ERROR(WriteFileAtomically(
          metrics_port_file, absl::StrCat(server->metrics_port(), "\n")));
    }
  }
  if (!port_file.empty()) {
    DX_RETURN_IF_ERROR(
        WriteFileAtomically(port_file, absl::StrCat(server->port(), "\n")));
  }
  const int sig = WaitForTerminationSignal();
  LogEvent(program, "info", "shutting down", {{"signal", sig}});
  server->Shutdown(5);
  return absl::OkStatus();
}

int AdapterMain(int argc, char** argv, const char* program,
                absl::Status (*run)(const std::string& config_path)) {
  BlockTerminationSignals();  // before any thread starts
  RouteLibraryLogs();
  if (argc != 3 || std::strcmp(argv[1], "--config") != 0) {
    std::cerr << "usage: " << program << " --config FILE.yaml\n";
    return 2;
  }
  absl::Status s = run(argv[2]);
  if (!s.ok()) {
    LogEvent(program, "error", s.message(), {{"config", argv[2]}});
    return 1;
  }
  return 0;
}

}  // namespace dx::adapters
