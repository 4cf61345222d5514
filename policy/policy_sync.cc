#include "policy/policy_sync.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace dx::policy {

PolicySync::PolicySync(Deps deps, Options options)
    : deps_(deps), options_(options) {}

absl::StatusOr<std::unique_ptr<PolicySync>> PolicySync::Start(Deps deps,
                                                              Options options) {
  std::unique_ptr<PolicySync> sync(new PolicySync(deps, options));
  DX_ASSIGN_OR_RETURN(uint64_t head, deps.store->Head());
  DX_ASSIGN_OR_RETURN(auto snapshot,
                      sync->Load(head, deps.registry->Current()));
  sync->authorizer_ = std::make_unique<PolicyAuthorizer>(
      std::move(snapshot), deps.quotas, deps.clock);
  {
    absl::MutexLock lock(&sync->mu_);
    sync->heard_ = deps.clock->Now();
    sync->store_head_ = head;
  }
  PolicySync* self = sync.get();
  sync->registry_watch_ =
      deps.registry->Watch([self](std::shared_ptr<const registry::Registry> r) {
        self->OnRegistry(std::move(r));
      });
  DX_ASSIGN_OR_RETURN(sync->watch_, deps.store->Watch(head, self));
  return sync;
}

PolicySync::~PolicySync() {
  // No callback runs after these (one running on another thread is waited
  // for), so none sees this object half destroyed.
  registry_watch_.reset();
  watch_.reset();
}

absl::StatusOr<std::shared_ptr<const PolicySnapshot>> PolicySync::Load(
    uint64_t head, std::shared_ptr<const registry::Registry> registry) const {
  DX_ASSIGN_OR_RETURN(v1::PolicyDocument doc, deps_.store->StateAt(head, ""));
  // What the store holds was checked when applied; a state_secret mark set
  // since disables the grants it catches instead of stopping this node.
  auto snapshot = PolicySnapshot::Compile(
      std::move(registry), doc, nullptr, head, deps_.clock->Now(), nullptr,
      /*tolerate_state_secret_grants=*/true);
  if (!snapshot.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the sharing policy at revision ", head,
        " does not fit the registry: ", snapshot.status().message(),
        ". Restore the registry entries it refers to, then apply a corrected "
        "policy"));
  }
  return snapshot;
}

void PolicySync::Install(std::shared_ptr<const PolicySnapshot> s) {
  authorizer_->Install(std::move(s));
  problem_ = absl::OkStatus();
}

void PolicySync::OnCommit(const v1::PolicyCommit& commit) {
  const uint64_t rev = commit.meta().revision();
  absl::MutexLock lock(&mu_);
  heard_ = deps_.clock->Now();
  store_head_ = std::max(store_head_, rev);
  std::shared_ptr<const PolicySnapshot> current = authorizer_->Current();
  std::shared_ptr<const PolicySnapshot> expected = std::move(expected_);
  expected_.reset();
  if (rev <= current->revision()) return;  // already in force
  absl::StatusOr<std::shared_ptr<const PolicySnapshot>> next;
  if (rev != current->revision() + 1) {
    // A revision did not compile earlier: read the whole policy again.
    next = Load(rev, current->registry());
  } else if (expected != nullptr && expected->revision() == rev &&
             expected->registry() == current->registry() &&
             expected_sha256_ == commit.meta().document_sha256()) {
    next = std::move(expected);  // this node's own commit, compiled already
  } else {
    next =
        PolicySnapshot::Compile(current->registry(), commit.changes(),
                                current.get(), rev, deps_.clock->Now(), nullptr,
                                /*tolerate_state_secret_grants=*/true);
  }
  if (!next.ok()) {
    problem_ = absl::UnavailableError(absl::StrCat(
        "policy revision ", rev, " could not be put in force here (",
        next.status().message(), "); revision ", current->revision(),
        " still decides"));
    return;
  }
  Install(*std::move(next));
}

void PolicySync::OnReset(uint64_t head) {
  absl::MutexLock lock(&mu_);
  heard_ = deps_.clock->Now();
  store_head_ = head;
  expected_.reset();
  std::shared_ptr<const PolicySnapshot> current = authorizer_->Current();
  auto next = Load(head, current->registry());
  if (!next.ok()) {
    problem_ = absl::UnavailableError(
        absl::StrCat("policy revision ", head, " could not be loaded (",
                     next.status().message(), "); revision ",
                     current->revision(), " still decides"));
    return;
  }
  Install(*std::move(next));
}

void PolicySync::OnCurrent(uint64_t head, absl::Time) {
  absl::MutexLock lock(&mu_);
  heard_ = deps_.clock->Now();
  store_head_ = std::max(store_head_, head);
}

void PolicySync::OnRegistry(std::shared_ptr<const registry::Registry> r) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const PolicySnapshot> current = authorizer_->Current();
  const uint64_t head = std::max(store_head_, required_);
  if (current->revision() < head) {
    // A newer revision did not compile against the previous registry:
    // this one may be what it needs. Installing the old revision on the
    // new registry would leave this node behind the store, quietly.
    auto loaded = Load(head, r);
    if (loaded.ok()) {
      Install(*std::move(loaded));
      return;
    }
  }
  auto next =
      PolicySnapshot::Compile(r, v1::PolicyDocument(), current.get(),
                              current->revision(), deps_.clock->Now(), nullptr);
  if (!next.ok()) {
    problem_ = absl::UnavailableError(absl::StrCat(
        "registry ", r->digest().substr(0, 12),
        " does not fit the sharing policy in force (", next.status().message(),
        "); the previous registry stays in force"));
    return;
  }
  Install(*std::move(next));
}

void PolicySync::ExpectCommit(std::shared_ptr<const PolicySnapshot> snapshot,
                              const std::string& document_sha256) {
  absl::MutexLock lock(&mu_);
  expected_ = std::move(snapshot);
  expected_sha256_ = document_sha256;
}

absl::Status PolicySync::WaitFor(uint64_t revision,
                                 absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto in_force = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return authorizer_->Current()->revision() >= revision;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&in_force), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("policy revision ", revision,
                     " is committed but not yet in force on this node after ",
                     absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

absl::Status PolicySync::CheckRegistry(
    std::shared_ptr<const registry::Registry> candidate) const {
  std::shared_ptr<const PolicySnapshot> current = authorizer_->Current();
  // A dataset that goes would take its sharing policy with it, silently.
  std::string orphans;
  for (const v1::Dataset& d : current->registry()->proto().datasets()) {
    if (current->PolicyOf(d.id()) != nullptr &&
        candidate->FindDataset(d.id()) == nullptr) {
      absl::StrAppend(&orphans, orphans.empty() ? "" : ", ", d.id());
    }
  }
  if (!orphans.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "datasets ", orphans,
        " have a sharing policy; remove their policies first (dxctl policy "
        "apply with an empty entry), then the datasets"));
  }
  std::vector<PolicyProblem> problems;
  auto compiled = PolicySnapshot::Compile(
      std::move(candidate), v1::PolicyDocument(), current.get(),
      current->revision(), deps_.clock->Now(), &problems);
  if (compiled.ok()) return absl::OkStatus();
  std::string errors;
  for (const PolicyProblem& p : problems) {
    if (!p.error) continue;
    absl::StrAppend(&errors, "\n  the sharing policy's ", p.path, ": ",
                    p.message);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the sharing policy in force (revision ", current->revision(),
      ") does not fit this registry; change the policy first, or keep what "
      "it refers to:",
      errors));
}

absl::Status PolicySync::WaitForRegistry(uint64_t revision,
                                         absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto in_force = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return authorizer_->Current()->registry()->revision() >= revision;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&in_force), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("registry revision ", revision,
                     " is committed but not yet in force on this node"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PolicySync::RequireStoreHead() {
  DX_ASSIGN_OR_RETURN(uint64_t head, deps_.store->Head());
  absl::MutexLock lock(&mu_);
  required_ = std::max(required_, head);
  store_head_ = std::max(store_head_, head);
  return head;
}

bool PolicySync::WaitForRequiredHead(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return authorizer_->Current()->revision() >= required_ || !problem_.ok();
  };
  mu_.AwaitWithTimeout(absl::Condition(&settled), timeout);
  return authorizer_->Current()->revision() >= required_;
}

absl::Status PolicySync::Health() const {
  absl::MutexLock lock(&mu_);
  if (!problem_.ok()) return problem_;
  if (const uint64_t installed = authorizer_->Current()->revision(),
      head = std::max(required_, store_head_);
      installed < head) {
    // Deciding now would apply an older policy than the one the store
    // already has (at a new cluster's start: revision 0, owners and open
    // data only, while another node's seeded revision is on its way; or a
    // revision that did not compile, after a registry change cleared the
    // problem it reported).
    return absl::UnavailableError(absl::StrCat(
        "this node has not yet put the sharing policy's revision ", head,
        " in force (it has revision ", installed,
        "; that revision is the store's head), so it refuses exchanges until "
        "it has"));
  }
  if (options_.max_staleness > absl::ZeroDuration()) {
    const absl::Duration silent = deps_.clock->Now() - heard_;
    if (silent > options_.max_staleness) {
      return absl::UnavailableError(absl::StrCat(
          "this node has not heard from the policy store for ",
          absl::FormatDuration(absl::Trunc(silent, absl::Seconds(1))),
          " (more than ", absl::FormatDuration(options_.max_staleness),
          "), so it cannot prove its sharing policy is current; it refuses "
          "exchanges until the store is reachable again"));
    }
  }
  return absl::OkStatus();
}

}  // namespace dx::policy
