// ExchangeObserver: what the exchange pipeline tells the operator's tools
// about each exchange, once, at its close: its dataset, decision, reason,
// audit sequence number and how long each stage took. A seam in plain C++
// so that the pipeline needs no metrics or log library: the observers are
// gateway/prometheus_exchange_metrics.h and gateway/exchange_log.h.
// Implementations are thread-safe and quick (they run on the completion
// executor, before the answer is sent).
#ifndef DX_GATEWAY_EXCHANGE_OBSERVER_H_
#define DX_GATEWAY_EXCHANGE_OBSERVER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "dx/v1/audit.pb.h"
#include "dx/v1/errors.pb.h"

namespace dx::gateway {

enum class Stage { kVerify, kReplay, kPolicy, kAdapter, kAuditCommit, kSign };
inline constexpr int kStageCount = 6;
const char* StageName(Stage stage);

// The stages an exchange went through, and how long each took; a stage not
// reached stays at -1.
struct StageTimes {
  StageTimes() { took.fill(absl::Seconds(-1)); }
  void Set(Stage s, absl::Duration d) { took[static_cast<int>(s)] = d; }
  std::array<absl::Duration, kStageCount> took;
};

// Never a data subject id nor a record value: only what the audit record's
// public fields say.
struct ExchangeOutcome {
  std::string request_id;  // as the consumer sent it
  // The audit record's sequence number; -1 when it could not be recorded.
  int64_t audit_sequence = -1;
  int grpc_code = 0;
  // A dataset of the registry, or empty when the request named none that
  // is (so that a caller cannot add label values).
  std::string dataset;
  // The consumer agency, when its certificate proved it; empty otherwise.
  std::string consumer;
  v1::Decision decision = v1::DECISION_UNSPECIFIED;
  v1::ReasonCode reason = v1::REASON_UNSPECIFIED;
  bool stream = false;
  uint64_t records = 0;
  StageTimes stages;
  absl::Duration total;
};

class ExchangeObserver {
 public:
  virtual ~ExchangeObserver() = default;
  virtual void ExchangeClosed(const ExchangeOutcome& outcome) = 0;
  // An adapter answered (or failed to) with `grpc_code`.
  virtual void AdapterCalled(const std::string& dataset, int grpc_code) = 0;
};

// Tells each of several observers, in order.
class ExchangeObservers final : public ExchangeObserver {
 public:
  void Add(ExchangeObserver* o) { observers_.push_back(o); }
  void ExchangeClosed(const ExchangeOutcome& outcome) override {
    for (ExchangeObserver* o : observers_) o->ExchangeClosed(outcome);
  }
  void AdapterCalled(const std::string& dataset, int grpc_code) override {
    for (ExchangeObserver* o : observers_) o->AdapterCalled(dataset, grpc_code);
  }

 private:
  std::vector<ExchangeObserver*> observers_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_EXCHANGE_OBSERVER_H_
