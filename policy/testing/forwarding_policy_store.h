// ForwardingPolicyStore: a PolicyStore that passes every call to another
// one it does not own. Tests derive from it and override the one call they
// change (a commit that loses a race, watches held back), or use it as is
// to let several "nodes" share one store. Thread-safe as the store behind.
#ifndef DX_POLICY_TESTING_FORWARDING_POLICY_STORE_H_
#define DX_POLICY_TESTING_FORWARDING_POLICY_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy_store.h"

namespace dx::policy::testing {

class ForwardingPolicyStore : public PolicyStore {
 public:
  explicit ForwardingPolicyStore(PolicyStore* to) : to_(to) {}

  absl::StatusOr<uint64_t> Head() const override { return to_->Head(); }
  absl::StatusOr<v1::PolicyDocument> StateAt(
      uint64_t revision, const std::string& only) const override {
    return to_->StateAt(revision, only);
  }
  absl::StatusOr<uint64_t> Commit(
      v1::PolicyRevision meta, const v1::PolicyDocument& changes,
      bool directory_changed, uint64_t expected_head,
      const std::string& resolves_pending) override {
    return to_->Commit(std::move(meta), changes, directory_changed,
                       expected_head, resolves_pending);
  }
  absl::StatusOr<std::vector<v1::PolicyRevision>> History(
      const std::string& dataset, size_t limit) const override {
    return to_->History(dataset, limit);
  }
  absl::Status PutPending(const v1::PendingChange& change) override {
    return to_->PutPending(change);
  }
  absl::StatusOr<v1::PendingChange> GetPending(
      const std::string& id) const override {
    return to_->GetPending(id);
  }
  absl::Status DeletePending(const std::string& id) override {
    return to_->DeletePending(id);
  }
  absl::StatusOr<std::vector<v1::PendingChange>> ListPending() const override {
    return to_->ListPending();
  }
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      uint64_t after, PolicyWatcher* watcher) override {
    return to_->Watch(after, watcher);
  }

 protected:
  PolicyStore* to() const { return to_; }

 private:
  PolicyStore* const to_;
};

}  // namespace dx::policy::testing

#endif  // DX_POLICY_TESTING_FORWARDING_POLICY_STORE_H_
