// dx-file-adapter: serves datasets from CSV or JSON Lines files to dxgate.
//
//   dx-file-adapter --config deploy/file-adapter.yaml
#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "adapters/file/file_source.h"
#include "adapters/sdk/adapter_server.h"
#include "common/files.h"
#include "common/protobuf_logs.h"
#include "common/signals.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"
#include "dx/v1/config.pb.h"

namespace {

absl::Status Run(const std::string& config_path) {
  dx::v1::FileAdapterConfig config;
  DX_RETURN_IF_ERROR(dx::LoadYamlFile(config_path, &config));
  const std::string base = dx::DirName(config_path);
  dx::adapters::AdapterServer::Options options;
  options.listen_address =
      config.listen_address().empty() ? "127.0.0.1:0" : config.listen_address();
  DX_ASSIGN_OR_RETURN(
      options.cert_chain_pem,
      dx::ReadFile(dx::ResolvePath(base, config.tls().cert_file())));
  DX_ASSIGN_OR_RETURN(
      options.private_key_pem,
      dx::ReadFile(dx::ResolvePath(base, config.tls().key_file())));
  options.ca_file = dx::ResolvePath(base, config.ca_file());
  options.intermediates_file =
      dx::ResolvePath(base, config.intermediates_file());
  for (const auto& crl : config.crl_files()) {
    options.crl_files.push_back(dx::ResolvePath(base, crl));
  }
  options.require_crl = !config.has_require_crl() || config.require_crl();
  if (config.crl_reload_seconds() != 0) {
    options.crl_reload_seconds = static_cast<int>(config.crl_reload_seconds());
  }
  options.allowed_gateways.assign(config.allowed_gateways().begin(),
                                  config.allowed_gateways().end());
  options.metrics_address = config.metrics().listen_address();
  options.cert_file = dx::ResolvePath(base, config.tls().cert_file());
  dx::adapters::AdapterServer::Sources sources;
  for (const auto& ds : config.datasets()) {
    DX_ASSIGN_OR_RETURN(auto source,
                        dx::adapters::FileSource::Load(
                            dx::ResolvePath(base, ds.path()), ds.format()));
    std::cerr << "dx-file-adapter: dataset " << ds.dataset_id() << ": "
              << source->row_count() << " records from " << ds.path() << "\n";
    sources[ds.dataset_id()] = std::move(source);
  }
  DX_ASSIGN_OR_RETURN(auto server, dx::adapters::AdapterServer::Start(
                                       std::move(options), std::move(sources)));
  std::cerr << "dx-file-adapter: serving on port " << server->port() << "\n";
  if (server->metrics_port() != 0) {
    std::cerr << "dx-file-adapter: metrics on port " << server->metrics_port()
              << "\n";
    if (!config.metrics().port_file().empty()) {
      DX_RETURN_IF_ERROR(dx::WriteFileAtomically(
          dx::ResolvePath(base, config.metrics().port_file()),
          absl::StrCat(server->metrics_port(), "\n")));
    }
  }
  if (!config.port_file().empty()) {
    DX_RETURN_IF_ERROR(
        dx::WriteFileAtomically(dx::ResolvePath(base, config.port_file()),
                                absl::StrCat(server->port(), "\n")));
  }
  const int sig = dx::WaitForTerminationSignal();
  std::cerr << "dx-file-adapter: signal " << sig << ", shutting down\n";
  server->Shutdown(5);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  dx::BlockTerminationSignals();
  dx::QuietProtobufLogs();
  if (argc != 3 || std::strcmp(argv[1], "--config") != 0) {
    std::cerr << "usage: dx-file-adapter --config FILE.yaml\n";
    return 2;
  }
  absl::Status s = Run(argv[2]);
  if (!s.ok()) {
    std::cerr << "dx-file-adapter: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
