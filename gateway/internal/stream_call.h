// StreamCall: one Exchange/Stream. Admission runs its three steps one
// after another (a stream may run long, so the replay check is not
// overlapped with it); then a STREAM_START record is made durable before
// any record leaves, and the adapter's stream is bridged to the
// consumer's with at most two batches in flight (one being written to the
// consumer while the next is received), so memory stays bounded whatever
// the size of the result. A STREAM_END record and a signed final envelope
// close it; if that end cannot be sent (the consumer left), a
// NOT_DELIVERED record follows the STREAM_END. Deletes itself when both sides
// are done.
#ifndef DX_GATEWAY_INTERNAL_STREAM_CALL_H_
#define DX_GATEWAY_INTERNAL_STREAM_CALL_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/exchange.pb.h"
#include "gateway/exchange_deps.h"
#include "gateway/internal/admission.h"
#include "gateway/internal/in_flight.h"

namespace dx::gateway::internal {

class StreamCall final : public grpc::ServerWriteReactor<v1::StreamMessage>,
                         public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  StreamCall(const ExchangeDeps& deps, InFlightLimiter* limiter,
             grpc::CallbackServerContext* ctx);
  void Start(bool accepting, const v1::SignedRequest& request);

  // Server side.
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;
  // Adapter side.
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  void OnReplayChecked(Refusal refusal);
  void OnDecided(Refusal refusal);
  void StartAdapter();
  // Projects the batch received, writes it to the consumer and reads the
  // next one meanwhile. The caller has set writing_.
  void SendBatchAndReadNext();
  // After the adapter's stream ended and every batch was written.
  void CompleteStream();
  // No read of the adapter's stream will be started again: removes the
  // hold taken at its start, so that its OnDone can come. Once.
  void NoMoreReads();
  void PrepareEnd(const Refusal& r, v1::Decision decision);
  std::string BatchesDigest() const;
  void FinishSuccess();
  // The STREAM_END was recorded but its signed end could not be sent.
  void EndNotDelivered();
  void FailAndAudit(const Refusal& refusal, v1::Decision decision);
  void FinishServer(grpc::Status status);
  // Each hand-off to gRPC goes through these (common/tsan_hand_off.h).
  void WriteOut();
  void ReadNext();
  void FinishWith(grpc::Status status);

  InFlightSlot slot_;
  const ExchangeDeps& deps_;
  grpc::CallbackServerContext* const ctx_;
  Admission a_;
  Cancellation cancel_;
  uint64_t start_sequence_ = 0;
  uint64_t max_records_ = 0;
  uint64_t record_count_ = 0;
  v1::Truncation truncated_ = v1::TRUNCATION_NONE;
  uint64_t batch_count_ = 0;
  std::string digest_;  // concatenated SHA-256 of each batch sent
  v1::RecordBatch returned_fields_;
  // The records sent so far, for the audit record (set at the first batch,
  // once the decision is known).
  std::optional<audit::DeliveredRecords> delivered_;
  std::atomic<bool> finishing_{false};
  std::atomic<bool> final_pending_{false};  // the signed end is being written
  uint64_t end_sequence_ = 0;               // the STREAM_END record's
  grpc::ClientContext client_ctx_;
  v1::AdapterRequest adapter_request_;
  grpc::ByteBuffer batch_bytes_;  // decoded by us (see AdapterPool)
  v1::RawRecordBatch batch_in_;
  v1::RawRecordBatch filtered_;
  v1::RecordBatch rows_in_, rows_out_;  // when rows are filtered or masked
  std::string adapter_error_;           // set when the adapter sent a bad batch
  v1::StreamMessage out_;

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;       // a batch write is out
  bool batch_ready_ ABSL_GUARDED_BY(mu_) = false;   // batch_in_ awaits it
  bool stream_ended_ ABSL_GUARDED_BY(mu_) = false;  // adapter's OnDone came
  grpc::Status end_status_;  // set with stream_ended_, read after
  bool adapter_started_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_over_ ABSL_GUARDED_BY(mu_) = false;  // NoMoreReads() ran
  bool adapter_done_ ABSL_GUARDED_BY(mu_) = false;
  bool server_done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace dx::gateway::internal

#endif  // DX_GATEWAY_INTERNAL_STREAM_CALL_H_
