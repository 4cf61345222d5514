// dx-rest-adapter: serves datasets from providers' HTTP(S)/JSON services
// to dxgate (docs/ADAPTERS.md).
//
//   dx-rest-adapter --config deploy/rest-adapter.yaml
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "adapters/rest/change_feed_plan.h"
#include "adapters/rest/http_client.h"
#include "adapters/rest/rest_change_feed.h"
#include "adapters/rest/rest_plan.h"
#include "adapters/rest/rest_source.h"
#include "adapters/sdk/adapter_main.h"
#include "common/log.h"
#include "common/yaml_proto.h"
#include "dx/v1/rest_adapter.pb.h"

namespace {

// The fixed headers, then those whose value comes from the environment.
absl::StatusOr<std::vector<std::string>> Headers(
    const dx::v1::RestDataset& ds) {
  std::vector<std::string> out;
  for (const auto& [name, value] : ds.headers()) {
    if (absl::Status s = dx::adapters::CheckHeaderLine(name, value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dataset '", ds.dataset_id(), "': headers: ", s.message()));
    }
    out.push_back(absl::StrCat(name, ": ", value));
  }
  for (const auto& [name, variable] : ds.header_env()) {
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset '", ds.dataset_id(), "': header ", name,
                       " comes from ", variable, ", which is not set"));
    }
    if (absl::Status s = dx::adapters::CheckHeaderLine(name, value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dataset '", ds.dataset_id(), "': header_env: ", s.message(),
          " (from the variable ", variable,
          "); fix the variable and start the adapter again"));
    }
    out.push_back(absl::StrCat(name, ": ", value));
  }
  return out;
}

absl::Status Run(const std::string& config_path) {
  dx::v1::RestAdapterConfig config;
  DX_RETURN_IF_ERROR(dx::LoadYamlFile(config_path, &config));
  const std::string base = dx::DirName(config_path);
  DX_ASSIGN_OR_RETURN(auto options, dx::adapters::ServingOptions(config, base));
  dx::adapters::HttpClient::Options upstream;
  upstream.ca_file = dx::ResolvePath(base, config.upstream().ca_file());
  upstream.cert_file = dx::ResolvePath(base, config.upstream().cert_file());
  upstream.key_file = dx::ResolvePath(base, config.upstream().key_file());
  auto client = std::make_unique<dx::adapters::HttpClient>(upstream);
  dx::adapters::AdapterServer::Sources sources;
  for (const auto& ds : config.datasets()) {
    auto plan = dx::adapters::RestPlan::Compile(ds);
    if (!plan.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": ", plan.status().message()));
    }
    DX_ASSIGN_OR_RETURN(auto headers, Headers(ds));
    dx::LogEvent("dx-rest-adapter", "info", "dataset",
                 {{"dataset", ds.dataset_id()},
                  {"origin", dx::adapters::OriginOf(ds.url())}});
    std::unique_ptr<dx::adapters::DataSource> source =
        std::make_unique<dx::adapters::RestSource>(*std::move(plan),
                                                   client.get(), headers);
    if (ds.has_change_feed()) {
      auto feed = dx::adapters::ChangeFeedPlan::Compile(ds);
      if (!feed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(config_path, ": ", feed.status().message()));
      }
      source = std::make_unique<dx::adapters::RestChangeFeed>(
          std::move(source), ds, *std::move(feed), client.get(),
          std::move(headers));
    }
    sources[ds.dataset_id()] = std::move(source);
  }
  return dx::adapters::ServeUntilSignal(
      "dx-rest-adapter", std::move(options), std::move(sources),
      dx::ResolvePath(base, config.port_file()),
      dx::ResolvePath(base, config.metrics().port_file()));
}

}  // namespace

int main(int argc, char** argv) {
  dx::adapters::InitHttpClientLibrary();
  return dx::adapters::AdapterMain(argc, argv, "dx-rest-adapter", &Run);
}
