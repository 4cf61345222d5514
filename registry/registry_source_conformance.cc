#include "registry/registry_source_conformance.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
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
  std::unique_ptr<WatchHandle> first = source->Watch(one.listener());
  std::unique_ptr<WatchHandle> second = source->Watch(two.listener());
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
  std::unique_ptr<WatchHandle> keep = source->Watch(kept.listener());
  std::unique_ptr<WatchHandle> drop = source->Watch(gone.listener());
  ASSERT_TRUE(GetParam().change(*source, RegistryWith("b")).ok());
  ASSERT_NE(gone.WaitFor("b"), nullptr);
  drop.reset();
  ASSERT_TRUE(GetParam().change(*source, RegistryWith("c")).ok());
  ASSERT_NE(kept.WaitFor("c"), nullptr);
  EXPECT_EQ(gone.calls(), 1);
}

// Dropping a handle while its listener runs on another thread waits for
// that call: once the handle is gone, the listener neither runs nor is
// still running, so what it uses may be destroyed.
TEST_P(RegistrySourceConformance, DroppingAHandleWaitsForARunningListener) {
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  absl::Notification entered, release;
  std::atomic<bool> finished{false};
  std::unique_ptr<WatchHandle> handle =
      source->Watch([&](std::shared_ptr<const Registry> r) {
        if (r->FindDataset("b") == nullptr) return;
        entered.Notify();
        release.WaitForNotification();
        finished = true;
      });
  // The file source tells its listeners on the changing thread.
  std::thread changer(
      [&] { EXPECT_TRUE(GetParam().change(*source, RegistryWith("b")).ok()); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::Notification dropped;
  bool finished_when_dropped = false;
  std::thread dropper([&] {
    handle.reset();
    finished_when_dropped = finished;
    dropped.Notify();
  });
  // A handle that does not wait is gone by now (a bounded wait, no assert
  // on time: a correct one is still waiting, and this wait just ends).
  (void)dropped.WaitForNotificationWithTimeout(absl::Milliseconds(200));
  release.Notify();
  dropper.join();
  changer.join();
  EXPECT_TRUE(finished_when_dropped)
      << "the handle was gone while its listener still ran";
}

// A listener may drop its own handle: the call finishes, no other follows,
// and nothing waits for itself.
TEST_P(RegistrySourceConformance, AListenerMayDropItsOwnHandle) {
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  absl::Notification armed;
  std::atomic<int> calls{0};
  std::unique_ptr<WatchHandle> self;
  self = source->Watch([&](std::shared_ptr<const Registry>) {
    armed.WaitForNotification();  // `self` is set
    ++calls;
    self.reset();
  });
  armed.Notify();
  // Told after `self`'s listener, on the same thread: once it has heard a
  // change, that listener is done with it.
  Heard kept;
  std::unique_ptr<WatchHandle> keep = source->Watch(kept.listener());
  ASSERT_TRUE(GetParam().change(*source, RegistryWith("b")).ok());
  ASSERT_NE(kept.WaitFor("b"), nullptr);
  ASSERT_TRUE(GetParam().change(*source, RegistryWith("c")).ok());
  ASSERT_NE(kept.WaitFor("c"), nullptr);
  EXPECT_EQ(calls.load(), 1);
}

// A handle dropped after its source is gone does nothing (and touches
// nothing freed: the sanitizer builds check).
TEST_P(RegistrySourceConformance, AHandleMayOutliveItsSource) {
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  Heard heard;
  std::unique_ptr<WatchHandle> handle = source->Watch(heard.listener());
  source.reset();
  handle.reset();
  EXPECT_EQ(heard.calls(), 0);
}

TEST_P(RegistrySourceConformance, AFileRefusesCommitsSayingWhereItLives) {
  if (GetParam().commits) GTEST_SKIP() << "this source takes commits";
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  const uint64_t before = source->Current()->revision();
  v1::RegistryRevision meta;
  meta.set_author("operator:test");
  absl::StatusOr<uint64_t> committed =
      source->Commit(RegistryWith("b"), meta, before);
  ASSERT_EQ(committed.status().code(), absl::StatusCode::kFailedPrecondition)
      << committed.status();
  absl::StatusOr<std::string> file = source->ReloadableFile();
  ASSERT_TRUE(file.ok()) << file.status();
  // Where the registry is, and how to change it.
  const std::string why(committed.status().message());
  for (const std::string& part :
       {*file, std::string("a file on this node"),
        std::string("change that file"), std::string("run a cluster")}) {
    EXPECT_TRUE(absl::StrContains(why, part)) << why << " lacks " << part;
  }
  EXPECT_EQ(source->CanCommit(), committed.status());
  EXPECT_EQ(source->History(0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(source->Current()->FindDataset("b"), nullptr);
  EXPECT_EQ(source->Current()->revision(), before);
  EXPECT_EQ(source->Describe(), "file " + *file);
}

TEST_P(RegistrySourceConformance, CommitsAreCompareAndSwapAndRefuseReloads) {
  if (!GetParam().commits) GTEST_SKIP() << "this source refuses commits";
  std::unique_ptr<RegistrySource> source = Make(RegistryWith("a"));
  EXPECT_TRUE(source->CanCommit().ok());
  Heard heard;
  std::unique_ptr<WatchHandle> handle = source->Watch(heard.listener());
  const uint64_t before = source->Current()->revision();
  v1::RegistryRevision meta;
  meta.set_author("operator:test");
  meta.set_comment("add b");
  absl::StatusOr<uint64_t> committed =
      source->Commit(RegistryWith("b"), meta, before);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(*committed, before + 1);
  std::shared_ptr<const Registry> got = heard.WaitFor("b");
  ASSERT_NE(got, nullptr) << "the commit did not reach the listener";
  EXPECT_EQ(got->revision(), before + 1);
  // A writer that read the old revision loses; nothing is stored.
  EXPECT_TRUE(absl::IsAborted(
      source->Commit(RegistryWith("c"), meta, before).status()));
  absl::StatusOr<std::vector<v1::RegistryRevision>> history =
      source->History(1);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].revision(), before + 1);
  EXPECT_EQ((*history)[0].author(), "operator:test");
  EXPECT_EQ((*history)[0].comment(), "add b");
  EXPECT_TRUE((*history)[0].yaml().empty());
  // The file only seeded the store: a reload is refused, and installs
  // nothing.
  EXPECT_EQ(source->ReloadableFile().status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto other = Registry::FromYaml(RegistryWith("z"), "registry.yaml");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(source->Reload(*other).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(source->Current()->FindDataset("z"), nullptr);
}

TEST_P(RegistrySourceConformance, NodesSharingASourceFollowOneRegistry) {
  if (!GetParam().shared) GTEST_SKIP() << "each node reads its own file";
  std::unique_ptr<RegistrySource> first = Make(RegistryWith("a"));
  // The second node's seed loses to what the store holds.
  std::unique_ptr<RegistrySource> second = Make(RegistryWith("z"));
  EXPECT_NE(second->Current()->FindDataset("a"), nullptr);
  EXPECT_EQ(second->Current()->FindDataset("z"), nullptr);
  Heard heard, own;
  std::unique_ptr<WatchHandle> h1 = second->Watch(heard.listener());
  std::unique_ptr<WatchHandle> h2 = first->Watch(own.listener());
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
