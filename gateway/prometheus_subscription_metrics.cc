#include "gateway/prometheus_subscription_metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace dx::gateway {
namespace {

// REASON_POLICY_FORBIDDEN -> policy_forbidden (as dx_exchanges_total).
std::string ReasonLabel(v1::ReasonCode r) {
  std::string name = v1::ReasonCode_Name(r);
  if (name.empty()) return "unknown";
  if (absl::StartsWith(name, "REASON_")) name = name.substr(7);
  return absl::AsciiStrToLower(name);
}

void Change(prometheus::Gauge& g, double delta) {
  if (delta >= 0) {
    g.Increment(delta);
  } else {
    g.Decrement(-delta);
  }
}

}  // namespace

PrometheusSubscriptionMetrics::PrometheusSubscriptionMetrics(
    prometheus::Registry* registry)
    : events_(prometheus::BuildCounter()
                  .Name("dx_subscription_events_total")
                  .Help("Change events delivered to subscribers, by dataset "
                        "(an event sent again after a resume counts again).")
                  .Register(*registry)),
      batches_(prometheus::BuildCounter()
                   .Name("dx_subscription_batches_total")
                   .Help("Signed event batches delivered, by dataset.")
                   .Register(*registry)),
      streams_(prometheus::BuildGauge()
                   .Name("dx_subscriptions")
                   .Help("Subscription streams served now, by dataset and "
                         "state: open (every stream served) and idle (of "
                         "those, the ones sending only heartbeats).")
                   .Register(*registry)),
      lag_(prometheus::BuildHistogram()
               .Name("dx_subscription_lag_seconds")
               .Help("From the newest event's commit at the provider to its "
                     "batch's delivery, by dataset.")
               .Register(*registry)),
      unacked_(prometheus::BuildGauge()
                   .Name("dx_subscription_unacked_events")
                   .Help("Events delivered on the streams served now and not "
                         "yet acknowledged, by dataset.")
                   .Register(*registry)),
      ack_refusals_(prometheus::BuildCounter()
                        .Name("dx_subscription_ack_refusals_total")
                        .Help("Acks refused, by reason.")
                        .Register(*registry)),
      ends_(prometheus::BuildCounter()
                .Name("dx_subscription_ends_total")
                .Help("Streams the gateway ended because the policy or a "
                      "certificate no longer allows them (a signed "
                      "SubscriptionEnded), by dataset and reason.")
                .Register(*registry)),
      expired_(prometheus::BuildCounter()
                   .Name("dx_subscriptions_expired_total")
                   .Help("Subscriptions deleted because no stream served, "
                         "no ack moved and no resume came for "
                         "idle_expiry_days (each audited), by dataset.")
                   .Register(*registry)) {}

void PrometheusSubscriptionMetrics::StreamsOpen(const std::string& dataset,
                                                int delta) {
  Change(streams_.Add({{"dataset", dataset}, {"state", "open"}}), delta);
}

void PrometheusSubscriptionMetrics::StreamsIdle(const std::string& dataset,
                                                int delta) {
  Change(streams_.Add({{"dataset", dataset}, {"state", "idle"}}), delta);
}

void PrometheusSubscriptionMetrics::BatchDelivered(const std::string& dataset,
                                                   uint64_t events,
                                                   absl::Duration lag) {
  events_.Add({{"dataset", dataset}}).Increment(static_cast<double>(events));
  batches_.Add({{"dataset", dataset}}).Increment();
  if (lag >= absl::ZeroDuration()) {
    lag_.Add({{"dataset", dataset}},
             prometheus::Histogram::BucketBoundaries{
                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600})
        .Observe(absl::ToDoubleSeconds(lag));
  }
}

void PrometheusSubscriptionMetrics::Unacknowledged(const std::string& dataset,
                                                   int64_t delta) {
  Change(unacked_.Add({{"dataset", dataset}}), static_cast<double>(delta));
}

void PrometheusSubscriptionMetrics::AckRefused(v1::ReasonCode reason) {
  ack_refusals_.Add({{"reason", ReasonLabel(reason)}}).Increment();
}

void PrometheusSubscriptionMetrics::StreamEnded(const std::string& dataset,
                                                v1::ReasonCode reason) {
  ends_.Add({{"dataset", dataset}, {"reason", ReasonLabel(reason)}})
      .Increment();
}

void PrometheusSubscriptionMetrics::Expired(const std::string& dataset) {
  expired_.Add({{"dataset", dataset}}).Increment();
}

}  // namespace dx::gateway
