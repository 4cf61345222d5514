// What every adapter binary's main does the same way: read the serving
// settings (TLS, trust, allowed gateways, metrics) that each adapter's
// config spells with the same field names, and serve until SIGTERM.
#ifndef DX_ADAPTERS_SDK_ADAPTER_MAIN_H_
#define DX_ADAPTERS_SDK_ADAPTER_MAIN_H_

#include <string>

#include "absl/status/statusor.h"
#include "adapters/sdk/adapter_server.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace dx::adapters {

// Files named in the config are relative to its folder, `base`. Also sets
// the process's log format from `log_format`, before anything is logged.
template <typename Config>
absl::StatusOr<AdapterServer::Options> ServingOptions(const Config& config,
                                                      const std::string& base) {
  DX_ASSIGN_OR_RETURN(const LogFormat log_format,
                      ParseLogFormat(config.log_format()));
  SetLogFormat(log_format);
  AdapterServer::Options options;
  options.listen_address =
      config.listen_address().empty() ? "127.0.0.1:0" : config.listen_address();
  options.cert_file = ResolvePath(base, config.tls().cert_file());
  DX_ASSIGN_OR_RETURN(options.cert_chain_pem, ReadFile(options.cert_file));
  DX_ASSIGN_OR_RETURN(options.private_key_pem,
                      ReadFile(ResolvePath(base, config.tls().key_file())));
  options.ca_file = ResolvePath(base, config.ca_file());
  options.intermediates_file = ResolvePath(base, config.intermediates_file());
  for (const auto& crl : config.crl_files()) {
    options.crl_files.push_back(ResolvePath(base, crl));
  }
  options.require_crl = !config.has_require_crl() || config.require_crl();
  if (config.crl_reload_seconds() != 0) {
    options.crl_reload_seconds = static_cast<int>(config.crl_reload_seconds());
  }
  options.allowed_gateways.assign(config.allowed_gateways().begin(),
                                  config.allowed_gateways().end());
  options.metrics_address = config.metrics().listen_address();
  return options;
}

// Starts the server, writes its ports to the files named (when not empty),
// logs as `program`, and serves until SIGTERM or SIGINT (blocked by the
// caller with BlockTerminationSignals before any thread started).
absl::Status ServeUntilSignal(const std::string& program,
                              AdapterServer::Options options,
                              AdapterServer::Sources sources,
                              const std::string& port_file,
                              const std::string& metrics_port_file);

// The whole of an adapter's main: blocks the termination signals, checks
// the command line (`PROGRAM --config FILE.yaml`), calls `run` with the
// config's path, and prints its error. Returns the process's exit code.
int AdapterMain(int argc, char** argv, const char* program,
                absl::Status (*run)(const std::string& config_path));

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SDK_ADAPTER_MAIN_H_
