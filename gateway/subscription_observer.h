// SubscriptionObserver: what the subscription service tells the operator's
// tools as feeds run: streams served and idle, batches and events
// delivered and how late, events delivered and not yet acknowledged, acks
// refused. A seam in plain C++ (as ExchangeObserver is), so the service
// needs no metrics library; gateway/prometheus_subscription_metrics.h is
// the implementation. Implementations are thread-safe and quick (they run
// on the subscription's thread, some under its lock).
#ifndef DX_GATEWAY_SUBSCRIPTION_OBSERVER_H_
#define DX_GATEWAY_SUBSCRIPTION_OBSERVER_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "dx/v1/errors.pb.h"

namespace dx::gateway {

// `dataset` is always a dataset of the registry (the decision's), never
// what a caller wrote.
class SubscriptionObserver {
 public:
  virtual ~SubscriptionObserver() = default;
  // A stream began (+1) or ended (-1) being served.
  virtual void StreamsOpen(const std::string& dataset, int delta) = 0;
  // A stream began (+1) or stopped (-1) sending only heartbeats.
  virtual void StreamsIdle(const std::string& dataset, int delta) = 0;
  // A batch of `events` left; `lag` from its newest event's commit at the
  // provider to now (negative: unknown, not observed).
  virtual void BatchDelivered(const std::string& dataset, uint64_t events,
                              absl::Duration lag) = 0;
  // Events delivered and not acknowledged on the streams being served
  // grew (positive) or shrank (an ack, or a stream's end).
  virtual void Unacknowledged(const std::string& dataset, int64_t delta) = 0;
  virtual void AckRefused(v1::ReasonCode reason) = 0;
  // A stream the gateway ended because the policy or a certificate no
  // longer allows it (the signed SubscriptionEnded).
  virtual void StreamEnded(const std::string& dataset,
                           v1::ReasonCode reason) = 0;
  // An idle subscription was deleted by the expiry's sweep (audited).
  // Not pure: an observer that does not count expiries need not say so.
  virtual void Expired(const std::string& dataset) { (void)dataset; }
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_SUBSCRIPTION_OBSERVER_H_
