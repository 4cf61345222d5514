// The behaviour every ReplayStore must have, as a parameterized test suite.
// An implementation's test instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, ReplayStoreConformance,
//                            ::testing::Values(MyFactory()));
//
// Each test uses consumers of its own (a random prefix), so stores that
// share state between tests (an etcd cluster) see no interference.
#ifndef DX_REPLAY_REPLAY_STORE_CONFORMANCE_H_
#define DX_REPLAY_REPLAY_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "replay/replay_store.h"

namespace dx::replay {

struct ReplayStoreFactory {
  std::string name;
  // A store; two calls may share state (two nodes of one cluster).
  std::function<std::unique_ptr<ReplayStore>()> make;
  // The store's notion of now, for expiries.
  std::function<absl::Time()> now;
  // Whether two stores made by `make` share what they remember.
  bool shared = false;
};

class ReplayStoreConformance
    : public ::testing::TestWithParam<ReplayStoreFactory> {
 protected:
  void SetUp() override;
  // A key of this test's own consumer `who`, valid for two minutes.
  ReplayKey KeyOf(const std::string& who, const std::string& id,
                  const std::string& nonce) const;
  // CheckAndRemember, waited for.
  static absl::StatusOr<bool> Check(ReplayStore& store, const ReplayKey& key);

  std::unique_ptr<ReplayStore> store_;
  std::string prefix_;
};

std::string FactoryName(
    const ::testing::TestParamInfo<ReplayStoreFactory>& info);

}  // namespace dx::replay

#endif  // DX_REPLAY_REPLAY_STORE_CONFORMANCE_H_
