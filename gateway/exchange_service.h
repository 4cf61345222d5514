// ExchangeService: the Exchange gRPC service on the callback API. Each call
// runs the pipeline in gateway/internal/:
//   admission (authenticate -> replay check -> registry and policy, with
//   quotas) -> forward to the adapter with a deadline (AdapterPool, async)
//   -> filter rows, project fields and mask (policy_filter.h,
//   record_filter.h) -> close: audit (durable before the answer) -> sign ->
//   answer.
// Every attempt is audited, refusals included; if the audit append fails
// the call fails closed with UNAVAILABLE. No thread blocks waiting for an
// adapter, a store or the disk.
#ifndef DX_GATEWAY_EXCHANGE_SERVICE_H_
#define DX_GATEWAY_EXCHANGE_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "dx/v1/exchange.grpc.pb.h"
#include "gateway/exchange_deps.h"
#include "gateway/internal/in_flight.h"

namespace dx::gateway {

class ExchangeService final : public v1::Exchange::CallbackService {
 public:
  // `deps` and what it points to must outlive the service.
  explicit ExchangeService(ExchangeDeps deps)
      : deps_(std::move(deps)), in_flight_(deps_.max_in_flight) {}
  // Waits for the last call to let go (its final callbacks run on gRPC's
  // threads after it answered).
  ~ExchangeService() override { in_flight_.WaitUntilIdle(); }

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx,
                                 const v1::SignedRequest* request,
                                 v1::SignedResponse* response) override;
  grpc::ServerWriteReactor<v1::StreamMessage>* Stream(
      grpc::CallbackServerContext* ctx,
      const v1::SignedRequest* request) override;

  // After this, new calls are refused with UNAVAILABLE (graceful shutdown).
  void StopAccepting() { accepting_ = false; }

  // How many calls were refused for max_in_flight since the last call
  // (they are not audited one by one; the server records the count).
  uint64_t TakeOverloadRefusals() { return in_flight_.TakeRefusals(); }
  // For the metrics.
  uint64_t overload_refusals_total() const {
    return in_flight_.refusals_total();
  }
  int64_t in_flight() const { return in_flight_.in_flight(); }
  // What the pipeline uses, for the services that share its checks
  // (SubscriptionService).
  const ExchangeDeps& deps() const { return deps_; }

 private:
  grpc::Status OverloadStatus() const;

  const ExchangeDeps deps_;
  std::atomic<bool> accepting_{true};
  internal::InFlightLimiter in_flight_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_EXCHANGE_SERVICE_H_
