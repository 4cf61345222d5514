// Fuzzes the YAML readers of the gateway's configuration and registry, and
// the registry's validation: any input must give a config or an error,
// never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/yaml_proto.h"
#include "dx/v1/config.pb.h"
#include "registry/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  dx::v1::GatewayConfig config;
  (void)dx::YamlToProto(text, "fuzz.yaml", &config);
  (void)dx::registry::Registry::FromYaml(text, "fuzz.yaml");
  return 0;
}
