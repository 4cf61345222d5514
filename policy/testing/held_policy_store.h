// HeldPolicyStore: a PolicyStore that delegates to a real one but holds
// back what its watches deliver until Release(), and can play another node
// that wins the race to seed a new cluster's policy. It reproduces, on one
// process and without timing luck, the moment when the store's head is
// ahead of what a node's watch has delivered. Test-only; thread-safe.
#ifndef DX_POLICY_TESTING_HELD_POLICY_STORE_H_
#define DX_POLICY_TESTING_HELD_POLICY_STORE_H_

#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "policy/policy_store.h"
#include "policy/testing/forwarding_policy_store.h"

namespace dx::policy::testing {

class HeldPolicyStore final : public ForwardingPolicyStore {
 public:
  explicit HeldPolicyStore(std::unique_ptr<policy::PolicyStore> inner)
      : ForwardingPolicyStore(inner.get()), inner_(std::move(inner)) {}

  // From now on, watches deliver nothing until Release().
  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  // Delivers what was held, in order, on this thread; stops holding.
  void Release() {
    absl::MutexLock lock(&deliver_mu_);
    for (;;) {
      std::function<void()> next;
      {
        absl::MutexLock lock(&mu_);
        if (queue_.empty()) {
          held_ = false;
          return;
        }
        next = std::move(queue_.front().second);
        queue_.pop_front();
      }
      next();
    }
  }
  // The next Commit (this node seeding) finds that "another node" has
  // just committed `winner` as the next revision: that commit is made in
  // the real store, and the caller gets ABORTED, as from etcd's Txn.
  void LoseTheNextCommitTo(v1::PolicyDocument winner) {
    absl::MutexLock lock(&mu_);
    winner_ = std::move(winner);
    lose_next_ = true;
  }

  absl::StatusOr<uint64_t> Commit(
      v1::PolicyRevision meta, const v1::PolicyDocument& changes,
      bool directory_changed, uint64_t expected_head,
      const std::string& resolves_pending) override {
    bool lose = false;
    v1::PolicyDocument winner;
    {
      absl::MutexLock lock(&mu_);
      lose = lose_next_;
      lose_next_ = false;
      winner = winner_;
    }
    if (lose) {
      v1::PolicyRevision theirs;
      theirs.set_author("bootstrap");
      theirs.set_action("bootstrap");
      for (const auto& p : winner.datasets()) theirs.add_changed(p.dataset());
      auto rev = inner_->Commit(theirs, winner, winner.has_directory(),
                                expected_head, "");
      if (!rev.ok()) return rev.status();
      return absl::AbortedError("the policy changed meanwhile (another node)");
    }
    return inner_->Commit(std::move(meta), changes, directory_changed,
                          expected_head, resolves_pending);
  }
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      uint64_t after, policy::PolicyWatcher* watcher) override {
    auto relay = std::make_unique<Relay>(this, watcher);
    auto inner = inner_->Watch(after, relay.get());
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<WatchHandle>(
        new Handle(this, std::move(*inner), std::move(relay)));
  }

 private:
  // Passes each callback on, or queues it while held.
  class Relay final : public policy::PolicyWatcher {
   public:
    Relay(HeldPolicyStore* store, policy::PolicyWatcher* to)
        : store_(store), to_(to) {}
    void OnCommit(const v1::PolicyCommit& commit) override {
      store_->Deliver(this, [to = to_, commit] { to->OnCommit(commit); });
    }
    void OnReset(uint64_t head) override {
      store_->Deliver(this, [to = to_, head] { to->OnReset(head); });
    }
    void OnCurrent(uint64_t head, absl::Time when) override {
      store_->Deliver(this,
                      [to = to_, head, when] { to->OnCurrent(head, when); });
    }

   private:
    HeldPolicyStore* const store_;
    policy::PolicyWatcher* const to_;
  };
  // Keeps the watch's contract (common/watch_handle.h) for what is held
  // too: once it is gone, no held callback of its watch is delivered.
  class Handle final : public WatchHandle {
   public:
    Handle(HeldPolicyStore* store, std::unique_ptr<WatchHandle> inner,
           std::unique_ptr<Relay> relay)
        : store_(store), relay_(std::move(relay)), inner_(std::move(inner)) {}
    ~Handle() override {
      inner_.reset();  // nothing more reaches the relay
      // Waits for a Release() under way, then drops what it would deliver.
      absl::MutexLock deliver_lock(&store_->deliver_mu_);
      absl::MutexLock lock(&store_->mu_);
      auto& q = store_->queue_;
      for (auto it = q.begin(); it != q.end();) {
        it = it->first == relay_.get() ? q.erase(it) : std::next(it);
      }
    }

   private:
    HeldPolicyStore* const store_;
    std::unique_ptr<Relay> relay_;
    std::unique_ptr<WatchHandle> inner_;  // destroyed first: no callback
                                          // reaches the relay after it
  };

  void Deliver(const Relay* from, std::function<void()> f) {
    {
      absl::MutexLock lock(&mu_);
      if (held_) {
        queue_.emplace_back(from, std::move(f));
        return;
      }
    }
    f();
  }

  std::unique_ptr<policy::PolicyStore> inner_;
  absl::Mutex deliver_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // held by Release()
  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::pair<const Relay*, std::function<void()>>> queue_
      ABSL_GUARDED_BY(mu_);
  bool lose_next_ ABSL_GUARDED_BY(mu_) = false;
  v1::PolicyDocument winner_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::policy::testing

#endif  // DX_POLICY_TESTING_HELD_POLICY_STORE_H_
