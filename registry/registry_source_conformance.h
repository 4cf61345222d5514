// The behaviour every RegistrySource must have, as a parameterized test
// suite (the file source in registry_test, the cluster's etcd source in
// cluster_test). How a change is made differs (a reload of the file, a
// commit in etcd); what the policy and the gateway see of it must not, and
// a listener whose handle is gone hears nothing more.
#ifndef DX_REGISTRY_REGISTRY_SOURCE_CONFORMANCE_H_
#define DX_REGISTRY_REGISTRY_SOURCE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "registry/registry_source.h"

namespace dx::registry {

struct RegistrySourceFactory {
  std::string name;
  // A source that starts from `seed` (a registry's YAML). Two sources made
  // with the same `ns` share their registry when `shared` (two nodes of
  // one cluster): the second keeps the first's and ignores its own seed.
  std::function<std::unique_ptr<RegistrySource>(const std::string& ns,
                                                const std::string& seed)>
      make;
  // Puts `yaml` in force through `source`, as an operator would.
  std::function<absl::Status(RegistrySource& source, const std::string& yaml)>
      change;
  bool shared = false;
  // Whether the source takes commits (the cluster's); one that does not
  // (the file) must refuse them, saying where the registry lives.
  bool commits = false;
};
inline void PrintTo(const RegistrySourceFactory& f, std::ostream* os) {
  *os << f.name;
}

class RegistrySourceConformance
    : public ::testing::TestWithParam<RegistrySourceFactory> {
 protected:
  void SetUp() override;
  std::unique_ptr<RegistrySource> Make(const std::string& seed) const;

  std::string ns_;  // this test's own
};

std::string RegistryFactoryName(
    const ::testing::TestParamInfo<RegistrySourceFactory>& info);

}  // namespace dx::registry

#endif  // DX_REGISTRY_REGISTRY_SOURCE_CONFORMANCE_H_
