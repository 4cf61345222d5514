#include "gateway/exchange_log.h"

#include "metrics/grpc_server_metrics.h"

namespace dx::gateway {

ExchangeLog::ExchangeLog(const Clock* clock, int max_per_second, WriteFn write)
    : budget_(clock, max_per_second, absl::Seconds(1)),
      write_(write ? std::move(write)
                   : [](absl::string_view level, absl::string_view message,
                        const std::vector<LogField>& fields) {
                       LogEvent("dxgate", level, message, fields);
                     }) {}

void ExchangeLog::ExchangeClosed(const ExchangeOutcome& o) {
  if (o.decision == v1::DECISION_ALLOW && o.grpc_code == 0) return;
  uint64_t suppressed;
  if (!budget_.Take(&suppressed)) return;
  std::string reason = v1::ReasonCode_Name(o.reason);
  std::vector<LogField> fields = {
      {"request_id", o.request_id},
      {"audit_sequence", o.audit_sequence},
      {"dataset", o.dataset},
      {"decision", v1::Decision_Name(o.decision)},
      {"reason", reason},
      {"grpc_code", metrics::GrpcCodeName(o.grpc_code)},
      {"total_us", absl::ToInt64Microseconds(o.total)}};
  if (!o.consumer.empty()) fields.push_back({"consumer", o.consumer});
  if (suppressed > 0) fields.push_back({"suppressed_before", suppressed});
  write_(
      o.decision == v1::DECISION_DENY ? "info" : "warning",
      o.decision == v1::DECISION_DENY ? "exchange refused" : "exchange failed",
      fields);
}

}  // namespace dx::gateway
