// AuditLog: the seam through which the gateway records every exchange
// attempt. Implementations append durably and in order, and report the
// record's place in the log (its receipt) only once it is on disk.
#ifndef DX_AUDIT_AUDIT_LOG_H_
#define DX_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

struct AppendResult {
  uint64_t sequence_number = 0;
  // RFC 6962 leaf hash: SHA-256(0x00 || stored record bytes).
  std::string record_hash;
};

class AuditLog {
 public:
  using Callback = std::function<void(absl::StatusOr<AppendResult>)>;
  virtual ~AuditLog() = default;

  // Appends `record`; the log sets its sequence_number. `done` runs exactly
  // once, on another thread, after the record is durable (or with
  // UNAVAILABLE if it could not be written; nothing then was written).
  virtual void Append(v1::AuditRecord record, Callback done) = 0;

  // OK while appends succeed; UNAVAILABLE with the cause after a failure,
  // until an append succeeds again.
  virtual absl::Status Health() const = 0;
};

// The leaf hash of stored record bytes (defined in merkle.cc, dx_audit_core).
std::string LeafHash(const std::string& record_bytes);

}  // namespace dx::audit

#endif  // DX_AUDIT_AUDIT_LOG_H_
