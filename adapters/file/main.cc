// dx-file-adapter: serves datasets from CSV or JSON Lines files to dxgate.
//
//   dx-file-adapter --config deploy/file-adapter.yaml

#include <fstream>

#include "adapters/file/change_log.h"
#include "adapters/file/file_source.h"
#include "adapters/sdk/adapter_main.h"
#include "common/log.h"
#include "common/yaml_proto.h"
#include "dx/v1/config.pb.h"

namespace {

absl::Status Run(const std::string& config_path) {
  dx::v1::FileAdapterConfig config;
  DX_RETURN_IF_ERROR(dx::LoadYamlFile(config_path, &config));
  const std::string base = dx::DirName(config_path);
  DX_ASSIGN_OR_RETURN(auto options, dx::adapters::ServingOptions(config, base));
  dx::adapters::AdapterServer::Sources sources;
  for (const auto& ds : config.datasets()) {
    DX_ASSIGN_OR_RETURN(auto source,
                        dx::adapters::FileSource::Load(
                            dx::ResolvePath(base, ds.path()), ds.format()));
    dx::LogEvent("dx-file-adapter", "info", "dataset",
                 {{"dataset", ds.dataset_id()},
                  {"records", static_cast<uint64_t>(source->row_count())},
                  {"file", ds.path()}});
    sources[ds.dataset_id()] = std::move(source);
  }
  // A change log serves subscriptions to a dataset the adapter serves.
  for (const auto& log : config.change_logs()) {
    auto it = sources.find(log.dataset_id());
    if (it == sources.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          config_path, ": change_logs names dataset '", log.dataset_id(),
          "', which is not in datasets (serve its file too)"));
    }
    const std::string path = dx::ResolvePath(base, log.path());
    if (!std::ifstream(path).good()) {
      return absl::InvalidArgumentError(absl::StrCat(
          config_path, ": change log ", path,
          " cannot be read (create it empty if nothing changed yet)"));
    }
    it->second = std::make_unique<dx::adapters::ChangeLogSource>(
        std::move(it->second), path,
        absl::Milliseconds(log.poll_millis() == 0 ? 200 : log.poll_millis()));
    dx::LogEvent("dx-file-adapter", "info", "change log",
                 {{"dataset", log.dataset_id()}, {"file", log.path()}});
  }
  return dx::adapters::ServeUntilSignal(
      "dx-file-adapter", std::move(options), std::move(sources),
      dx::ResolvePath(base, config.port_file()),
      dx::ResolvePath(base, config.metrics().port_file()));
}

}  // namespace

int main(int argc, char** argv) {
  return dx::adapters::AdapterMain(argc, argv, "dx-file-adapter", &Run);
}
