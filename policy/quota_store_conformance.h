// The behaviour every QuotaStore must have, as a parameterized test suite
// (the local store in policy_test, the cluster's etcd store in
// cluster_test):
//
//   INSTANTIATE_TEST_SUITE_P(Local, QuotaStoreConformance,
//                            ::testing::Values(QuotaStoreFactory{...}));
//
// Each test names buckets of its own (a random prefix), so stores that
// share state between tests (an etcd cluster) see no interference, and
// uses windows around the present (stores may keep keys until the window
// is over).
#ifndef DX_POLICY_QUOTA_STORE_CONFORMANCE_H_
#define DX_POLICY_QUOTA_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "policy/quota_store.h"

namespace dx::policy {

struct QuotaStoreFactory {
  std::string name;
  // A store, as one node sees it; two calls share counters when `shared`
  // (two nodes of one cluster).
  std::function<std::unique_ptr<QuotaStore>()> make;
  bool shared = false;
};
// gtest prints a parameter by this name rather than its bytes.
inline void PrintTo(const QuotaStoreFactory& f, std::ostream* os) {
  *os << f.name;
}

class QuotaStoreConformance
    : public ::testing::TestWithParam<QuotaStoreFactory> {
 protected:
  void SetUp() override;
  // A bucket of this test's own: `what` is "rpm" or "rpd"; the window is
  // the present one plus `later`.
  QuotaBucket Bucket(const std::string& name, const std::string& what,
                     uint64_t capacity, int64_t later = 0) const;
  // Take, waited for.
  static absl::StatusOr<QuotaTakeResult> TakeNow(QuotaStore& store,
                                                 std::vector<QuotaTake> takes);

  std::unique_ptr<QuotaStore> store_;
  std::string prefix_;
};

std::string QuotaFactoryName(
    const ::testing::TestParamInfo<QuotaStoreFactory>& info);

}  // namespace dx::policy

#endif  // DX_POLICY_QUOTA_STORE_CONFORMANCE_H_
