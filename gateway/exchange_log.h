// ExchangeLog: a log line for each exchange that was refused or failed
// (allowed ones are counted by the metrics and kept by the audit log, not
// logged), with its request id, audit sequence number, dataset, decision,
// reason and status: what an operator greps for when a consumer calls.
// At most `max_per_second` lines (a flood of bad requests must not flood
// the log); the next line says how many were left out. Thread-safe.
#ifndef DX_GATEWAY_EXCHANGE_LOG_H_
#define DX_GATEWAY_EXCHANGE_LOG_H_

#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "common/log_budget.h"
#include "gateway/exchange_observer.h"

namespace dx::gateway {

class ExchangeLog final : public ExchangeObserver {
 public:
  using WriteFn =
      std::function<void(absl::string_view level, absl::string_view message,
                         const std::vector<LogField>& fields)>;
  // `write` defaults to LogEvent("dxgate", ...).
  ExchangeLog(const Clock* clock, int max_per_second, WriteFn write = nullptr);

  void ExchangeClosed(const ExchangeOutcome& outcome) override;
  void AdapterCalled(const std::string&, int) override {}

 private:
  LogBudget budget_;
  const WriteFn write_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_EXCHANGE_LOG_H_
