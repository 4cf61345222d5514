#include "gateway/exchange_service.h"

#include <grpcpp/grpcpp.h>

#include "gateway/internal/stream_call.h"
#include "gateway/internal/unary_call.h"

namespace dx::gateway {
namespace {

// Answers a stream with a status and nothing else.
class RefusedStream final : public grpc::ServerWriteReactor<v1::StreamMessage> {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status ExchangeService::OverloadStatus() const {
  return ErrorStatus(Overloaded(deps_.max_in_flight), "", nullptr,
                     deps_.node_id);
}

grpc::ServerUnaryReactor* ExchangeService::Call(
    grpc::CallbackServerContext* ctx, const v1::SignedRequest* request,
    v1::SignedResponse* response) {
  if (!in_flight_.TryTake()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(OverloadStatus());
    return reactor;
  }
  auto* call = new internal::UnaryCall(deps_, &in_flight_, ctx, response);
  call->Start(accepting_, *request);
  return call;
}

grpc::ServerWriteReactor<v1::StreamMessage>* ExchangeService::Stream(
    grpc::CallbackServerContext* ctx, const v1::SignedRequest* request) {
  if (!in_flight_.TryTake()) return new RefusedStream(OverloadStatus());
  auto* call = new internal::StreamCall(deps_, &in_flight_, ctx);
  call->Start(accepting_, *request);
  return call;
}

}  // namespace dx::gateway
