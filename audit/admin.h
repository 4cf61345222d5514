// Admin records: policy changes, key and certificate changes, prunes and
// auditors' reads of personal data go into the same tamper-evident log as
// exchanges.
#ifndef DX_AUDIT_ADMIN_H_
#define DX_AUDIT_ADMIN_H_

#include <string>

#include "absl/status/status.h"
#include "audit/audit_log.h"

namespace dx::audit {

// A RECORD_KIND_ADMIN record: `actor` did `action` ("gateway.start",
// "audit.prune", ...); `detail` says what exactly.
v1::AuditRecord AdminRecord(const std::string& actor, const std::string& action,
                            const std::string& detail);

// A refused administrative call: DECISION_DENY with its gRPC status;
// `identity_verified` false when `actor` is only what the caller's
// certificate claims.
v1::AuditRecord AdminRefusalRecord(const std::string& actor,
                                   bool identity_verified,
                                   const std::string& cert_sha256,
                                   const std::string& action,
                                   const std::string& detail, int status_code);

// Appends and blocks until the record is durable (or failed). Not for the
// exchange path, which never blocks.
absl::StatusOr<AppendResult> AppendAndWait(AuditLog* log,
                                           v1::AuditRecord record);

}  // namespace dx::audit

#endif  // DX_AUDIT_ADMIN_H_
