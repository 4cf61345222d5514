// The behaviour every PolicyStore must have, as a parameterized test suite
// (Trillian's storage testers): the RocksDB store and the cluster's etcd
// store both instantiate it.
#ifndef DX_POLICY_POLICY_STORE_CONFORMANCE_H_
#define DX_POLICY_POLICY_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "policy/policy_store.h"

namespace dx::policy {

struct PolicyStoreFactory {
  std::string name;
  // A store over namespace `ns`: each test uses a fresh one, and two
  // stores over the same namespace share their state (two nodes).
  std::function<std::unique_ptr<PolicyStore>(const std::string& ns)> make;
};

class PolicyStoreConformance
    : public ::testing::TestWithParam<PolicyStoreFactory> {
 protected:
  void SetUp() override;
  std::unique_ptr<PolicyStore> Peer() { return GetParam().make(ns_); }

  std::string ns_;
  std::unique_ptr<PolicyStore> store_;
};

std::string FactoryName(
    const ::testing::TestParamInfo<PolicyStoreFactory>& info);

}  // namespace dx::policy

#endif  // DX_POLICY_POLICY_STORE_CONFORMANCE_H_
