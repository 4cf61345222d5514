// UnaryCall: one Exchange/Call from start to answer. After admission, two
// branches run side by side and the answer waits for both:
//   - the replay check (an etcd round trip in a cluster; inline here);
//   - the decision, the adapter call and the filter.
// A replay known before the decision stops the call there; one learned
// later discards what the adapter sent (nothing unguarded leaves). Then
// the closing step: audit, sign, finish. Deletes itself when done.
#ifndef DX_GATEWAY_INTERNAL_UNARY_CALL_H_
#define DX_GATEWAY_INTERNAL_UNARY_CALL_H_

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/exchange.pb.h"
#include "gateway/exchange_deps.h"
#include "gateway/internal/admission.h"
#include "gateway/internal/in_flight.h"

namespace dx::gateway::internal {

class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(const ExchangeDeps& deps, InFlightLimiter* limiter,
            grpc::CallbackServerContext* ctx, v1::SignedResponse* response);
  void Start(bool accepting, const v1::SignedRequest& request);

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  void OnReplayChecked(Refusal refusal);
  void OnDecided(Refusal refusal);
  void OnAdapterDone(grpc::Status s);
  // A dataset served by a peer platform: the request goes on to that
  // platform's gateway, and its answer (or refusal) comes back relayed.
  void Forward();
  void OnForwarded(grpc::Status s);
  // A relayed answer holds only columns asked for and allowed.
  absl::Status CheckAnswerFits(const v1::ResponseEnvelope& env) const;
  // The decision's branch ended (refused, or records ready).
  void MainBranchDone(Refusal refusal, v1::Decision decision);
  // Runs when both branches are done.
  void Close();

  // Closes with a peer's refusal, relayed as it came.
  void CloseWithRelayed();

  InFlightSlot slot_;
  const ExchangeDeps& deps_;
  v1::SignedResponse* const response_;
  Admission a_;
  Cancellation cancel_;
  uint32_t max_records_ = 0;
  grpc::ClientContext client_ctx_;
  v1::AdapterRequest adapter_request_;
  grpc::ByteBuffer adapter_bytes_;  // decoded by us (see AdapterPool)
  v1::AdapterResponse adapter_response_;
  v1::RecordBatch records_;
  uint64_t record_count_ = 0;
  v1::Truncation truncated_ = v1::TRUNCATION_NONE;
  // A forwarded call (Forward): the request as sent on, the route, the
  // peer's answer, and a peer's refusal to relay.
  const v1::SignedRequest* request_ = nullptr;
  grpc::ByteBuffer forward_request_;
  grpc::ByteBuffer forward_bytes_;
  PeerRoute route_;
  v1::SignedResponse relayed_;
  bool relay_status_ = false;
  grpc::Status relayed_status_;

  absl::Mutex mu_;
  int branches_ ABSL_GUARDED_BY(mu_) = 2;
  bool replay_known_ ABSL_GUARDED_BY(mu_) = false;
  Refusal replay_refusal_ ABSL_GUARDED_BY(mu_);
  Refusal main_refusal_ ABSL_GUARDED_BY(mu_);
  v1::Decision main_decision_ ABSL_GUARDED_BY(mu_) = v1::DECISION_ALLOW;
};

}  // namespace dx::gateway::internal

#endif  // DX_GATEWAY_INTERNAL_UNARY_CALL_H_
