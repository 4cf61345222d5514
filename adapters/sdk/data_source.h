// DataSource: what a provider plugs into the adapter SDK. The SDK handles
// TLS, caller checks and streaming; a DataSource only finds records.
#ifndef DX_ADAPTERS_SDK_DATA_SOURCE_H_
#define DX_ADAPTERS_SDK_DATA_SOURCE_H_

#include <functional>

#include "absl/status/status.h"
#include "dx/v1/adapter.pb.h"

namespace dx::adapters {

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
                             const Emit& emit) const = 0;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SDK_DATA_SOURCE_H_
