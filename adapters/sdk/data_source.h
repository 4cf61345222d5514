// DataSource: what a provider plugs into the adapter SDK. The SDK handles
// TLS, caller checks and streaming; a DataSource only finds records.
#ifndef DX_ADAPTERS_SDK_DATA_SOURCE_H_
#define DX_ADAPTERS_SDK_DATA_SOURCE_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/subscription.pb.h"

namespace dx::adapters {

// What a DataSource knows of the call it serves.
struct FetchContext {
  // The gateway's deadline: a source that queries another system passes
  // what is left of it on (a statement timeout, a request timeout).
  absl::Time deadline = absl::InfiniteFuture();
  // True once the gateway went away or the deadline passed; a source that
  // waits on another system polls it and abandons (cancels) the work.
  std::function<bool()> cancelled = [] { return false; };
  // The gateway asked for a stream (FetchStream): the result may be large
  // and read over a long time. False for a unary Fetch.
  bool streaming = false;
};

class DataSource {
 public:
  // Receives one batch; returns false when the caller wants no more (the
  // client went away), and Fetch should then stop early.
  using Emit = std::function<bool(v1::RecordBatch&& batch)>;
  virtual ~DataSource() = default;

  // Finds the records matching `request` (its fields, query and
  // max_records) and emits them in batches of about request.batch_rows rows.
  // INVALID_ARGUMENT for an unknown field or query key. Thread-safe.
  virtual absl::Status Fetch(const v1::AdapterRequest& request,
                             const FetchContext& context,
                             const Emit& emit) const = 0;

  // Receives one batch of changes (or an empty one with the log's end, when
  // idle); returns false when the caller wants no more.
  using EmitChanges = std::function<bool(v1::ChangeBatch&& batch)>;
  // The dataset's changes after request.after_position, in the order they
  // were committed, then new ones as they come, until context.cancelled()
  // or `emit` returns false. A source without a change feed answers
  // UNIMPLEMENTED. Thread-safe.
  virtual absl::Status Changes(const v1::ChangesRequest& request,
                               const FetchContext& context,
                               const EmitChanges& emit) const {
    (void)request;
    (void)context;
    (void)emit;
    return absl::UnimplementedError(
        "this adapter serves no change feed for the dataset; configure one "
        "(change_logs in the file adapter's configuration)");
  }
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SDK_DATA_SOURCE_H_
