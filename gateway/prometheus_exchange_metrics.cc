#include "gateway/prometheus_exchange_metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "metrics/grpc_server_metrics.h"
#include "metrics/metrics.h"

namespace dx::gateway {
namespace {

std::string DatasetLabel(const std::string& dataset) {
  return dataset.empty() ? "unknown" : dataset;
}

std::string DecisionLabel(v1::Decision d) {
  switch (d) {
    case v1::DECISION_ALLOW:
      return "allow";
    case v1::DECISION_DENY:
      return "deny";
    case v1::DECISION_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

// REASON_NOT_AUTHORIZED -> not_authorized; none for an allowed exchange.
std::string ReasonLabel(v1::ReasonCode r) {
  if (r == v1::REASON_UNSPECIFIED) return "none";
  std::string name = v1::ReasonCode_Name(r);
  if (absl::StartsWith(name, "REASON_")) name = name.substr(7);
  return absl::AsciiStrToLower(name);
}

}  // namespace

const char* StageName(Stage stage) {
  switch (stage) {
    case Stage::kVerify:
      return "verify";
    case Stage::kReplay:
      return "replay";
    case Stage::kPolicy:
      return "policy";
    case Stage::kAdapter:
      return "adapter";
    case Stage::kAuditCommit:
      return "audit_commit";
    case Stage::kSign:
      return "sign";
  }
  return "unknown";
}

PrometheusExchangeMetrics::PrometheusExchangeMetrics(
    prometheus::Registry* registry, Options options)
    : options_(options),
      exchanges_(prometheus::BuildCounter()
                     .Name("dx_exchanges_total")
                     .Help("Exchanges closed, by dataset, decision and reason "
                           "(each one audit record, or two for a stream).")
                     .Register(*registry)),
      records_(prometheus::BuildCounter()
                   .Name("dx_exchange_records_total")
                   .Help("Records sent to consumers, by dataset.")
                   .Register(*registry)),
      quota_refusals_(prometheus::BuildCounter()
                          .Name("dx_quota_refusals_total")
                          .Help("Exchanges refused for a quota, by dataset.")
                          .Register(*registry)),
      state_secret_requests_(
          prometheus::BuildCounter()
              .Name("dx_state_secret_requests_total")
              .Help("Requests refused because they ask for a state secret "
                    "(registry state_secret; Decision 1562/QD-TTg), by "
                    "dataset and consumer agency. Any increase raises "
                    "DxStateSecretRequested.")
              .Register(*registry)),
      adapter_calls_(prometheus::BuildCounter()
                         .Name("dx_adapter_calls_total")
                         .Help("Calls to adapters, by dataset and the "
                               "adapter's gRPC status.")
                         .Register(*registry)) {
  auto& stages = prometheus::BuildHistogram()
                     .Name("dx_exchange_stage_seconds")
                     .Help(
                         "Time an exchange spent in each stage: verify, "
                         "replay, policy, adapter, audit_commit, sign.")
                     .Register(*registry);
  for (int i = 0; i < kStageCount; ++i) {
    stages_[i] = &stages.Add({{"stage", StageName(static_cast<Stage>(i))}},
                             metrics::LatencyBuckets());
  }
}

void PrometheusExchangeMetrics::ExchangeClosed(const ExchangeOutcome& o) {
  const std::string dataset = DatasetLabel(o.dataset);
  std::map<std::string, std::string> labels = {
      {"dataset", dataset},
      {"decision", DecisionLabel(o.decision)},
      {"reason", ReasonLabel(o.reason)},
      {"kind", o.stream ? "stream" : "unary"}};
  if (options_.agency_labels) {
    labels["consumer"] = o.consumer.empty() ? "unverified" : o.consumer;
  }
  exchanges_.Add(labels).Increment();
  if (o.records > 0) {
    records_.Add({{"dataset", dataset}})
        .Increment(static_cast<double>(o.records));
  }
  if (o.reason == v1::REASON_QUOTA_EXCEEDED) {
    quota_refusals_.Add({{"dataset", dataset}}).Increment();
  }
  if (o.reason == v1::REASON_STATE_SECRET) {
    // The consumer is named whatever agency_labels says: few series, and
    // who asked is what the alert is about.
    state_secret_requests_
        .Add({{"dataset", dataset},
              {"consumer", o.consumer.empty() ? "unverified" : o.consumer}})
        .Increment();
  }
  for (int i = 0; i < kStageCount; ++i) {
    if (o.stages.took[i] >= absl::ZeroDuration()) {
      stages_[i]->Observe(absl::ToDoubleSeconds(o.stages.took[i]));
    }
  }
}

void PrometheusExchangeMetrics::AdapterCalled(const std::string& dataset,
                                              int grpc_code) {
  adapter_calls_
      .Add({{"dataset", DatasetLabel(dataset)},
            {"outcome", metrics::GrpcCodeName(grpc_code)}})
      .Increment();
}

}  // namespace dx::gateway
