// Readiness: the one gate that says whether this node may serve exchanges
// now, and the gRPC health service's answer, so that the two never differ.
// Each exchange asks Check() before any work; /healthz, dx_serving and
// dxctl status ask Why(); every health call refreshes it (through the
// interceptor this class makes, before the health service answers it), and
// so does the housekeeping loop. Each check that finds the state
// changed publishes it to the health service in the same step, under one
// lock, so a health probe is answered from the state at the moment it is
// read, not from what a poller saw up to a period ago.
//
// The state: the audit log can record, the shared state answers (a
// cluster's membership), the sharing policy is current (policy/
// policy_sync.h: its head at start in force, no word from the store missing
// for too long), and the node is not stopping. Thread-safe.
#ifndef DX_GATEWAY_READINESS_H_
#define DX_GATEWAY_READINESS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gateway/refusal.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}  // namespace grpc::experimental

namespace dx::gateway {

class Readiness final {
 public:
  struct Sources {
    std::function<absl::Status()> audit;         // the audit log's health
    std::function<absl::Status()> shared_state;  // membership, replay store
    std::function<absl::Status()> policy;        // PolicySync::Health
  };
  // Sets the health service's serving status (all its services).
  using Publish = std::function<void(bool serving)>;
  // Told of each change, with the reason (OK: serving again).
  using OnChange = std::function<void(const absl::Status& why)>;

  Readiness(Sources sources, OnChange on_change);

  // The refusal for an exchange arriving now (none: serve it). Publishes
  // a change of state to health before returning.
  Refusal Check();
  // Why nothing may be served now (OK: it may); the same state as Check(),
  // and, like it, publishes a change to health before returning.
  absl::Status Why();

  // Once the health service exists: publishes the current state at once,
  // and every change from then on.
  void SetPublisher(Publish publish);
  // The node is stopping: not serving from now on, whatever else holds.
  void Stop();

  // An interceptor for the gRPC server: each health call (Check, Watch)
  // refreshes the published state before the health service reads it.
  // The gate must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewHealthInterceptorFactory();

 private:
  class Factory;
  // Computes the state and publishes it if it changed.
  void Refresh();
  absl::Status Compute() const;

  const Sources sources_;
  const OnChange on_change_;
  std::atomic<bool> stopped_{false};
  // The last state published (or, before a publisher, computed): a check
  // that finds the same state takes no lock.
  std::atomic<bool> serving_{false};
  absl::Mutex mu_;
  Publish publish_ ABSL_GUARDED_BY(mu_);
  bool known_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_READINESS_H_
