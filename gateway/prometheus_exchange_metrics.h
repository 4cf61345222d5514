// PrometheusExchangeMetrics: the exchange families of docs/OPERATIONS.md
// (dx_exchanges_total, dx_exchange_stage_seconds, dx_adapter_calls_total,
// ...) in a prometheus-cpp registry. Label values come only from the
// registry's datasets, the decision and reason enums, and (when the
// operator turns agency_labels on) the agency codes that certificates
// proved: nothing a caller writes becomes a label. Thread-safe.
#ifndef DX_GATEWAY_PROMETHEUS_EXCHANGE_METRICS_H_
#define DX_GATEWAY_PROMETHEUS_EXCHANGE_METRICS_H_

#include <array>
#include <string>

#include "gateway/exchange_observer.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace dx::gateway {

class PrometheusExchangeMetrics final : public ExchangeObserver {
 public:
  struct Options {
    // Adds a `consumer` label to dx_exchanges_total: one series per agency
    // and dataset, so only where the operator wants that.
    bool agency_labels = false;
  };
  PrometheusExchangeMetrics(prometheus::Registry* registry, Options options);

  void ExchangeClosed(const ExchangeOutcome& outcome) override;
  void AdapterCalled(const std::string& dataset, int grpc_code) override;

 private:
  const Options options_;
  prometheus::Family<prometheus::Counter>& exchanges_;
  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Family<prometheus::Counter>& quota_refusals_;
  // Requests for a state secret (REASON_STATE_SECRET): each one an alert.
  prometheus::Family<prometheus::Counter>& state_secret_requests_;
  prometheus::Family<prometheus::Counter>& adapter_calls_;
  std::array<prometheus::Histogram*, kStageCount> stages_{};
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_PROMETHEUS_EXCHANGE_METRICS_H_
