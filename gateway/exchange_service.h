// ExchangeService: the Exchange gRPC service on the callback API.
// For each call: authenticate (RequestChecker) -> look up the dataset and
// fields (Registry) -> decide (policy::Authorizer) -> forward to the adapter
// with a deadline (AdapterPool, async) -> filter rows, project fields and
// mask (policy_filter.h, record_filter.h) -> audit (AuditLog,
// durable before the answer) -> sign -> answer. Every attempt is audited,
// refusals included; if the audit append fails the call fails closed with
// UNAVAILABLE. No thread blocks waiting for an adapter or the disk.
#ifndef DX_GATEWAY_EXCHANGE_SERVICE_H_
#define DX_GATEWAY_EXCHANGE_SERVICE_H_

#include <atomic>
#include <string>

#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "certs/crypto.h"
#include "common/clock.h"
#include "dx/v1/exchange.grpc.pb.h"
#include "gateway/adapter_pool.h"
#include "gateway/registry.h"
#include "gateway/request_checker.h"
#include "policy/decision.h"

namespace dx::gateway {

class ExchangeService final : public v1::Exchange::CallbackService {
 public:
  // Everything the service uses; owned by the caller, must outlive it.
  struct Deps {
    const Registry* registry = nullptr;
    const policy::Authorizer* authorizer = nullptr;
    const RequestChecker* checker = nullptr;
    audit::AuditLog* audit = nullptr;
    const certs::Signer* signer = nullptr;
    AdapterPool* adapters = nullptr;
    const Clock* clock = nullptr;
    std::string node_id;
    std::string subject_hmac_key;
    absl::Duration adapter_timeout = absl::Seconds(5);
    uint32_t max_records_unary = 10000;
    uint32_t stream_batch_rows = 4096;
    // Exchanges in flight at most (0: no cap). Beyond it calls are refused
    // at once with RESOURCE_EXHAUSTED, before any work, so that memory and
    // the audit writer's queue stay bounded under a flood.
    uint32_t max_in_flight = 4096;
  };
  explicit ExchangeService(Deps deps) : deps_(std::move(deps)) {}

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx,
                                 const v1::SignedRequest* request,
                                 v1::SignedResponse* response) override;
  grpc::ServerWriteReactor<v1::StreamMessage>* Stream(
      grpc::CallbackServerContext* ctx,
      const v1::SignedRequest* request) override;

  // After this, new calls are refused with UNAVAILABLE (graceful shutdown).
  void StopAccepting() { accepting_ = false; }

  // How many calls were refused for max_in_flight since the last call
  // (they are not audited one by one; main records the count).
  uint64_t TakeOverloadRefusals() { return overload_refusals_.exchange(0); }

  // Shared by the unary and streaming paths (exchange_service.cc).
  struct Admission;

 private:
  class UnaryCall;
  class StreamCall;
  // Holds one of the max_in_flight places for the life of a call.
  class InFlightSlot {
   public:
    explicit InFlightSlot(ExchangeService* s) : service_(s) {}
    ~InFlightSlot() { service_->in_flight_.fetch_sub(1); }

   private:
    ExchangeService* const service_;
  };
  // Takes a place, or counts a refusal and returns false.
  bool TakeInFlightSlot();
  grpc::Status OverloadStatus() const;

  const Deps deps_;
  std::atomic<bool> accepting_{true};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> overload_refusals_{0};
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_EXCHANGE_SERVICE_H_
