#include "gateway/exchange_log.h"

#include "metrics/grpc_server_metrics.h"

namespace dx::gateway {

ExchangeLog::ExchangeLog(const Clock* clock, int max_per_second, WriteFn write)
    : clock_(clock),
      max_per_second_(max_per_second),
      write_(write ? std::move(write)
                   : [](absl::string_view level, absl::string_view message,
                        const std::vector<LogField>& fields) {
                       LogEvent("dxgate", level, message, fields);
                     }) {}

void ExchangeLog::ExchangeClosed(const ExchangeOutcome& o) {
  if (o.decision == v1::DECISION_ALLOW && o.grpc_code == 0) return;
  uint64_t suppressed;
  {
    absl::MutexLock lock(&mu_);
    const int64_t second = absl::ToUnixSeconds(clock_->Now());
    if (second != second_) {
      second_ = second;
      written_this_second_ = 0;
    }
    if (written_this_second_ >= max_per_second_) {
      ++suppressed_;
      return;
    }
    ++written_this_second_;
    suppressed = suppressed_;
    suppressed_ = 0;
  }
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
