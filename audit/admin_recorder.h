// AdminRecorder: the one way administrative components put their admin
// records in the node's audit log (policy and registry changes, the
// authorization gate's refusals, the console's sign-ins, the node's own
// start, reloads and backups). A pure interface, low enough that policy/,
// authz/ and console/ may take one without linking the audit store; the
// gateway implements it over its log (gateway/admin_recorder.h), tests with
// a fake. Implementations are thread-safe.
#ifndef DX_AUDIT_ADMIN_RECORDER_H_
#define DX_AUDIT_ADMIN_RECORDER_H_

#include <string>

#include "absl/status/status.h"

namespace dx::audit {

// A refused administrative call (gRPC or console), as its record names it.
struct AdminRefusal {
  std::string actor;  // "auditor:bob", or "unauthenticated ADDR"
  // false: actor is what the certificate claims, or no one verified.
  bool identity_verified = false;
  std::string cert_sha256;  // the TLS client certificate's, if any
  std::string action;       // "policy.refused", ...
  std::string detail;       // the method and the reason
  // UNAUTHENTICATED or PERMISSION_DENIED (RESOURCE_EXHAUSTED: a count of
  // refusals over a flood budget, authz/refusal_budget.h).
  absl::StatusCode code = absl::StatusCode::kPermissionDenied;
};

class AdminRecorder {
 public:
  virtual ~AdminRecorder() = default;

  // Appends `actor` did `action` (`detail` says what exactly) and waits
  // until the record is durable: a change is answered only once its record
  // is on disk.
  virtual absl::Status Record(const std::string& actor,
                              const std::string& action,
                              const std::string& detail) = 0;

  // Appends a refusal's record and returns at once, without waiting for
  // it to be durable: anyone who reaches a port can make the node refuse,
  // and a refusal changes nothing, so it never holds a serving thread for
  // an fsync. Callers a stranger can drive bound how many they record
  // (authz/refusal_budget.h).
  virtual void RecordRefusal(const AdminRefusal& refusal) = 0;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_ADMIN_RECORDER_H_
