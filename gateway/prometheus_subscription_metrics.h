// PrometheusSubscriptionMetrics: the subscription families of
// docs/OPERATIONS.md (dx_subscription_events_total,
// dx_subscription_batches_total, dx_subscriptions,
// dx_subscription_lag_seconds, dx_subscription_unacked_events,
// dx_subscription_ack_refusals_total, dx_subscription_ends_total,
// dx_subscriptions_expired_total) in a
// prometheus-cpp registry. Labels come only from the registry's datasets,
// a fixed state and the reason enum. Thread-safe.
#ifndef DX_GATEWAY_PROMETHEUS_SUBSCRIPTION_METRICS_H_
#define DX_GATEWAY_PROMETHEUS_SUBSCRIPTION_METRICS_H_

#include <string>

#include "gateway/subscription_observer.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace dx::gateway {

class PrometheusSubscriptionMetrics final : public SubscriptionObserver {
 public:
  explicit PrometheusSubscriptionMetrics(prometheus::Registry* registry);

  void StreamsOpen(const std::string& dataset, int delta) override;
  void StreamsIdle(const std::string& dataset, int delta) override;
  void BatchDelivered(const std::string& dataset, uint64_t events,
                      absl::Duration lag) override;
  void Unacknowledged(const std::string& dataset, int64_t delta) override;
  void AckRefused(v1::ReasonCode reason) override;
  void StreamEnded(const std::string& dataset, v1::ReasonCode reason) override;
  void Expired(const std::string& dataset) override;

 private:
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& batches_;
  prometheus::Family<prometheus::Gauge>& streams_;
  prometheus::Family<prometheus::Histogram>& lag_;
  prometheus::Family<prometheus::Gauge>& unacked_;
  prometheus::Family<prometheus::Counter>& ack_refusals_;
  prometheus::Family<prometheus::Counter>& ends_;
  prometheus::Family<prometheus::Counter>& expired_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_PROMETHEUS_SUBSCRIPTION_METRICS_H_
