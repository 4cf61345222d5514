#include "gateway/readiness.h"

#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dx::gateway {
namespace {

constexpr char kHealthMethods[] = "/grpc.health.v1.Health/";

// Which part of the state refuses, and the refusal an exchange gets.
struct State {
  absl::Status why;
  Refusal refusal;
};

}  // namespace

// Nothing to intercept: creating it is the step that matters (below).
class Readiness::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(Readiness* gate) : gate_(gate) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // gRPC creates a call's interceptors before its handler runs, so the
    // health service answers this call from the state computed here.
    if (absl::StartsWith(info->method(), kHealthMethods)) gate_->Refresh();
    return nullptr;
  }

 private:
  Readiness* const gate_;
};

Readiness::Readiness(Sources sources, OnChange on_change)
    : sources_(std::move(sources)), on_change_(std::move(on_change)) {}

namespace {

State ComputeState(const Readiness::Sources& s, bool stopped) {
  if (stopped) {
    return {absl::UnavailableError("the gateway is shutting down"),
            ShuttingDown()};
  }
  if (absl::Status why = s.audit(); !why.ok()) return {why, AuditFailure(why)};
  if (absl::Status why = s.shared_state(); !why.ok()) {
    // Without the shared state no replay can be ruled out: refuse at once
    // rather than after each check times out.
    return {why, ReplayStoreFailure(why)};
  }
  if (absl::Status why = s.policy(); !why.ok()) {
    return {why, Refusal::For(v1::REASON_POLICY_NOT_CURRENT,
                              absl::StrCat(why.message(), "; retry later"))};
  }
  return {};
}

}  // namespace

absl::Status Readiness::Compute() const {
  return ComputeState(sources_, stopped_.load()).why;
}

absl::Status Readiness::Why() {
  absl::Status why = Compute();
  if (why.ok() != serving_.load()) Refresh();
  return why;
}

Refusal Readiness::Check() {
  State state = ComputeState(sources_, stopped_.load());
  if (state.why.ok() != serving_.load()) Refresh();
  return std::move(state.refusal);
}

void Readiness::Refresh() {
  absl::MutexLock lock(&mu_);
  // Computed again under the lock: of two racing refreshes, the last to
  // publish saw the later state.
  const absl::Status why = Compute();
  const bool serving = why.ok();
  const bool changed = !known_ || serving != serving_.load();
  if (!changed) return;
  const bool first = !known_;
  serving_.store(serving);
  if (publish_) {
    publish_(serving);
    known_ = true;
  }
  // The start is logged elsewhere; a first state worth a line is a refusal.
  if (publish_ && on_change_ && (!first || !serving)) on_change_(why);
}

void Readiness::SetPublisher(Publish publish) {
  {
    absl::MutexLock lock(&mu_);
    publish_ = std::move(publish);
    known_ = false;
  }
  Refresh();
}

void Readiness::Stop() {
  stopped_.store(true);
  Refresh();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Readiness::NewHealthInterceptorFactory() {
  return std::make_unique<Factory>(this);
}

}  // namespace dx::gateway
