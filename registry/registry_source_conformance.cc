#include "registry/registry_source_conformance.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "certs/crypto.h"
#include "common/bytes.h"

namespace dx::registry {
namespace {

// A registry of one dataset, `id`.
std::string RegistryWith(const std::string& id) {
  return absl::StrCat(
      "agencies: [{code: 000.00.00.G01}]\n"
      "datasets:\n"
      "  - {id: ",
      id,
      ", provider_agency: 000.00.00.G01, adapter: {address: \"h:1\"},\n"
      "     fields: [{name: x}]}\n");
}

// What one listener has been told.
class Heard {
 public:
  RegistrySource::Listener listener() {
    return [this](std::shared_ptr<const Registry> r) {
      absl::MutexLock lock(&mu_);
      last_ = std::move(r);
      ++calls_;
    };
  }
  // Until a registry with dataset `id` arrives (10 s at most).
  std::shared_ptr<const Registry> WaitFor(const std::string& id) {
    absl::MutexLock lock(&mu_);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return last_ != nullptr && last_->FindDataset(id) != nullptr;
    };
    mu_.AwaitWithTimeout(absl::Condition(&has), absl::Seconds(10));
    return has() ? last_ : nullptr;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  std::shared_ptr<const Registry> last_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

void RegistrySourceConformance::SetUp() {
  ns_ = HexEncode(certs::RandomBytes(4));
}

std::unique_ptr<RegistrySource> RegistrySourceConformance::Make(
    const std::string& seed) const {
  return GetParam().make(ns_, seed);
}

std::string RegistryFactoryName(
    const ::testing::TestParamInfo<RegistrySourceFactory>& info) {
  return info.param.name;
}

TEST_P(RegistrySourceConformance, StartsFromItsSeed) {
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  ASSERT_NE(source, nullptr);
  ASSERT_NE(source->Current(), nullptr);
  EXPECT_NE(source->Current()->FindDataset("a"), nullptr);
  EXPECT_EQ(source->Current()->FindDataset("b"), nullptr);
}

TEST_P(RegistrySourceConformance, AChangeReachesEveryListenerThenCurrent) {
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  const uint64_t before = source->Current()->revision();
  Heard one, two;
  source->Subscribe(one.listener());
  source->Subscribe(two.listener());
  ASSERT_TRUE(GetParam().change(*source, RegistryWith("b")).ok());
  std::shared_ptr<const Registry> got = one.WaitFor("b");
  ASSERT_NE(got, nullptr) << "the first listener was not told";
  ASSERT_NE(two.WaitFor("b"), nullptr) << "the second listener was not told";
  EXPECT_EQ(got->FindDataset("a"), nullptr);
  EXPECT_NE(source->Current()->FindDataset("b"), nullptr);
  // Revisions never go back (a file's may stay 0).
  EXPECT_GE(source->Current()->revision(), before);
}

TEST_P(RegistrySourceConformance, AListenerGoneHearsNothingMore) {
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  Heard kept, gone;
  source->Subscribe(kept.listener());
  const uint64_t id = source->Subscribe(gone.listener());
  source->Unsubscribe(id);
  ASSERT_TRUE(GetParam().change(*source, RegistryWith("b")).ok());
  ASSERT_NE(kept.WaitFor("b"), nullptr);
  EXPECT_EQ(gone.calls(), 0);
}

TEST_P(RegistrySourceConformance, NodesSharingASourceFollowOneRegistry) {
  if (!GetParam().shared) GTEST_SKIP() << "each node reads its own file";
  std::unique_ptr<RegistrySource> first = Make(RegistryWith("a"));
  // The second node's seed loses to what the store holds.
  std::unique_ptr<RegistrySource> second = Make(RegistryWith("z"));
  EXPECT_NE(second->Current()->FindDataset("a"), nullptr);
  EXPECT_EQ(second->Current()->FindDataset("z"), nullptr);
  Heard heard, own;
  second->Subscribe(heard.listener());
  first->Subscribe(own.listener());
  ASSERT_TRUE(GetParam().change(*first, RegistryWith("b")).ok());
  std::shared_ptr<const Registry> got = heard.WaitFor("b");
  ASSERT_NE(got, nullptr) << "a change through one node did not reach another";
  // The writer learns of its own change the same way (not necessarily
  // first): both end on the same revision and content.
  std::shared_ptr<const Registry> mine = own.WaitFor("b");
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(got->revision(), mine->revision());
  EXPECT_EQ(got->digest(), mine->digest());
}

}  // namespace dx::registry
