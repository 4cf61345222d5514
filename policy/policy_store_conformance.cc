#include "policy/policy_store_conformance.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "certs/crypto.h"
#include "common/bytes.h"

namespace dx::policy {
namespace {

v1::PolicyDocument OneGrant(const std::string& dataset,
                            const std::string& grant) {
  v1::PolicyDocument doc;
  v1::DatasetPolicy* p = doc.add_datasets();
  p->set_dataset(dataset);
  p->add_grants()->set_id(grant);
  return doc;
}

v1::PolicyRevision Meta(const std::string& dataset) {
  v1::PolicyRevision m;
  m.set_author("policy-admin:test");
  m.set_action("apply");
  m.add_changed(dataset);
  return m;
}

// Collects what a watch delivers; waits for it (etcd delivers later).
class Recorder final : public PolicyWatcher {
 public:
  void OnCommit(const v1::PolicyCommit& c) override {
    absl::MutexLock lock(&mu_);
    revisions_.push_back(c.meta().revision());
    grants_.push_back(c.changes().datasets_size() > 0 &&
                              c.changes().datasets(0).grants_size() > 0
                          ? c.changes().datasets(0).grants(0).id()
                          : "");
  }
  void OnReset(uint64_t head) override {
    absl::MutexLock lock(&mu_);
    resets_.push_back(head);
  }
  void OnCurrent(uint64_t, absl::Time) override {}

  // The revisions received once there are `n`, or what came in 10 s.
  std::vector<uint64_t> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return revisions_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return revisions_;
  }
  std::vector<std::string> grants() {
    absl::MutexLock lock(&mu_);
    return grants_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> revisions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> grants_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> resets_ ABSL_GUARDED_BY(mu_);
};

// The value, or a test failure naming the error (and a value no test
// expects).
uint64_t Ok(const absl::StatusOr<uint64_t>& r) {
  if (r.ok()) return *r;
  ADD_FAILURE() << r.status();
  return ~uint64_t{0};
}

}  // namespace

void PolicyStoreConformance::SetUp() {
  ns_ = HexEncode(certs::RandomBytes(6));
  store_ = GetParam().make(ns_);
  ASSERT_NE(store_, nullptr);
}

std::string FactoryName(
    const ::testing::TestParamInfo<PolicyStoreFactory>& info) {
  return info.param.name;
}

TEST_P(PolicyStoreConformance, CommitsAreNumberedAndCompareAndSwap) {
  EXPECT_EQ(Ok(store_->Head()), 0u);
  EXPECT_EQ(Ok(store_->Commit(Meta("a"), OneGrant("a", "g1"), false, 0, "")),
            1u);
  EXPECT_EQ(Ok(store_->Commit(Meta("a"), OneGrant("a", "g2"), false, 1, "")),
            2u);
  // A writer that read revision 1 loses: nothing is stored.
  auto stale = store_->Commit(Meta("a"), OneGrant("a", "g3"), false, 1, "");
  EXPECT_TRUE(absl::IsAborted(stale.status())) << stale.status();
  EXPECT_EQ(Ok(store_->Head()), 2u);
  EXPECT_EQ(Ok(Peer()->Head()), 2u);
}

TEST_P(PolicyStoreConformance, ReadsTheStateAtAnyRevision) {
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g1"), false, 0, "").ok());
  ASSERT_TRUE(
      store_->Commit(Meta("b"), OneGrant("b", "h1"), false, 1, "").ok());
  v1::PolicyDocument dir;
  dir.mutable_directory()->add_groups()->set_name("provinces");
  v1::PolicyRevision m = Meta("directory");
  ASSERT_TRUE(store_->Commit(m, dir, true, 2, "").ok());
  // Revision 4 removes a's policy (an empty policy).
  v1::PolicyDocument removal;
  removal.add_datasets()->set_dataset("a");
  ASSERT_TRUE(store_->Commit(Meta("a"), removal, false, 3, "").ok());

  auto at1 = store_->StateAt(1, "");
  ASSERT_TRUE(at1.ok()) << at1.status();
  ASSERT_EQ(at1->datasets_size(), 1);
  EXPECT_EQ(at1->datasets(0).grants(0).id(), "g1");
  EXPECT_EQ(at1->directory().groups_size(), 0);
  auto at3 = store_->StateAt(3, "");
  ASSERT_TRUE(at3.ok());
  EXPECT_EQ(at3->datasets_size(), 2);
  EXPECT_EQ(at3->directory().groups(0).name(), "provinces");
  auto head = store_->StateAt(0, "");
  ASSERT_TRUE(head.ok());
  ASSERT_EQ(head->datasets_size(), 1);
  EXPECT_EQ(head->datasets(0).dataset(), "b");
  auto only_b = Peer()->StateAt(2, "b");
  ASSERT_TRUE(only_b.ok());
  ASSERT_EQ(only_b->datasets_size(), 1);
  EXPECT_EQ(only_b->datasets(0).grants(0).id(), "h1");
  auto only_dir = store_->StateAt(4, "directory");
  ASSERT_TRUE(only_dir.ok());
  EXPECT_EQ(only_dir->datasets_size(), 0);
  EXPECT_EQ(only_dir->directory().groups_size(), 1);
  EXPECT_TRUE(absl::IsNotFound(store_->StateAt(5, "").status()));
}

TEST_P(PolicyStoreConformance, HistoryIsNewestFirstAndFiltersByDataset) {
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g1"), false, 0, "").ok());
  ASSERT_TRUE(
      store_->Commit(Meta("b"), OneGrant("b", "h1"), false, 1, "").ok());
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g2"), false, 2, "").ok());
  auto all = store_->History("", 0);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].revision(), 3u);
  EXPECT_EQ((*all)[2].revision(), 1u);
  EXPECT_EQ((*all)[0].author(), "policy-admin:test");
  auto of_a = Peer()->History("a", 0);
  ASSERT_TRUE(of_a.ok());
  ASSERT_EQ(of_a->size(), 2u);
  EXPECT_EQ((*of_a)[1].revision(), 1u);
  auto last = store_->History("", 1);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].revision(), 3u);
}

TEST_P(PolicyStoreConformance, PendingChangesAndTheirResolution) {
  v1::PendingChange p;
  p.set_id("p1");
  p.set_proposer("policy-admin:alice");
  *p.mutable_document() = OneGrant("a", "g1");
  ASSERT_TRUE(store_->PutPending(p).ok());
  p.set_id("p2");
  ASSERT_TRUE(store_->PutPending(p).ok());
  auto listed = Peer()->ListPending();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
  auto got = Peer()->GetPending("p1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->proposer(), "policy-admin:alice");
  EXPECT_TRUE(absl::IsNotFound(store_->GetPending("nope").status()));

  // Approving p1 commits and removes it in one step; a second approval
  // (another node) is refused and makes no revision.
  ASSERT_EQ(Ok(store_->Commit(Meta("a"), p.document(), false, 0, "p1")), 1u);
  EXPECT_TRUE(absl::IsNotFound(store_->GetPending("p1").status()));
  auto again = Peer()->Commit(Meta("a"), p.document(), false, 1, "p1");
  EXPECT_TRUE(absl::IsAborted(again.status())) << again.status();
  EXPECT_EQ(Ok(store_->Head()), 1u);

  // Rejecting: deleted once; the second deletion says it is gone.
  EXPECT_TRUE(store_->DeletePending("p2").ok());
  EXPECT_TRUE(absl::IsNotFound(Peer()->DeletePending("p2")));
  listed = store_->ListPending();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_P(PolicyStoreConformance, WatchersSeeEveryRevisionInOrderWhoeverWrote) {
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g1"), false, 0, "").ok());
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g2"), false, 1, "").ok());
  Recorder from_start, from_two;
  auto w1 = store_->Watch(0, &from_start);
  ASSERT_TRUE(w1.ok()) << w1.status();
  auto w2 = store_->Watch(2, &from_two);
  ASSERT_TRUE(w2.ok()) << w2.status();
  // A commit through another store (another node) reaches both watchers.
  std::unique_ptr<PolicyStore> peer = Peer();
  ASSERT_TRUE(peer->Commit(Meta("a"), OneGrant("a", "g3"), false, 2, "").ok());
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g4"), false, 3, "").ok());
  EXPECT_EQ(from_start.WaitFor(4), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(from_start.grants(),
            (std::vector<std::string>{"g1", "g2", "g3", "g4"}));
  EXPECT_EQ(from_two.WaitFor(2), (std::vector<uint64_t>{3, 4}));
  // After the handle goes, nothing more is delivered.
  w2->reset();
  ASSERT_TRUE(
      store_->Commit(Meta("a"), OneGrant("a", "g5"), false, 4, "").ok());
  EXPECT_EQ(from_start.WaitFor(5).size(), 5u);
  EXPECT_EQ(from_two.grants().size(), 2u);
}

// Dropping a watch's handle while its callback runs on another thread
// waits for that call: once the handle is gone, the watcher neither runs
// nor is still running, so it may be destroyed.
TEST_P(PolicyStoreConformance, DroppingAWatchWaitsForARunningCallback) {
  class Blocking final : public PolicyWatcher {
   public:
    void OnCommit(const v1::PolicyCommit&) override {
      entered.Notify();
      release.WaitForNotification();
      finished = true;
    }
    void OnReset(uint64_t) override {}
    void OnCurrent(uint64_t, absl::Time) override {}
    absl::Notification entered, release;
    std::atomic<bool> finished{false};
  };
  Blocking watcher;
  auto handle = store_->Watch(0, &watcher);
  ASSERT_TRUE(handle.ok()) << handle.status();
  // The local store tells its watchers on the committing thread.
  std::thread writer([&] {
    EXPECT_TRUE(
        store_->Commit(Meta("a"), OneGrant("a", "g1"), false, 0, "").ok());
  });
  ASSERT_TRUE(
      watcher.entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::Notification dropped;
  bool finished_when_dropped = false;
  std::thread dropper([&] {
    handle->reset();
    finished_when_dropped = watcher.finished;
    dropped.Notify();
  });
  // A handle that does not wait is gone by now (a bounded wait, no assert
  // on time: a correct one is still waiting, and this wait just ends).
  (void)dropped.WaitForNotificationWithTimeout(absl::Milliseconds(200));
  watcher.release.Notify();
  dropper.join();
  writer.join();
  EXPECT_TRUE(finished_when_dropped)
      << "the watch's handle was gone while its callback still ran";
}

TEST_P(PolicyStoreConformance, ConcurrentWritersMakeOneRevisionEach) {
  // Eight writers race for each revision: every revision is made once, and
  // the losers are told (ABORTED), never silently overwritten.
  std::atomic<int> won{0}, lost{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<PolicyStore> mine = t % 2 == 0 ? nullptr : Peer();
      PolicyStore* s = mine ? mine.get() : store_.get();
      for (int i = 0; i < 5; ++i) {
        auto head = s->Head();
        if (!head.ok()) {
          ++failed;
          continue;
        }
        auto r = s->Commit(Meta("a"), OneGrant("a", absl::StrCat("w", t)),
                           false, *head, "");
        if (r.ok()) {
          ++won;
        } else if (absl::IsAborted(r.status())) {
          ++lost;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(won.load() + lost.load(), 40);
  EXPECT_EQ(Ok(store_->Head()), static_cast<uint64_t>(won.load()));
  auto history = store_->History("", 0);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), static_cast<size_t>(won.load()));
}

}  // namespace dx::policy
