#include "audit/admin.h"

#include "absl/synchronization/notification.h"

namespace dx::audit {

v1::AuditRecord AdminRecord(const std::string& actor, const std::string& action,
                            const std::string& detail) {
  v1::AuditRecord r;
  r.set_kind(v1::RECORD_KIND_ADMIN);
  r.set_decision(v1::DECISION_ALLOW);
  r.set_tls_agency(actor);
  r.set_admin_action(action);
  r.set_message(detail);
  // The actor is the gateway itself or a caller the CallGate verified.
  r.set_identity_verified(true);
  return r;
}

v1::AuditRecord AdminRefusalRecord(const std::string& actor,
                                   bool identity_verified,
                                   const std::string& cert_sha256,
                                   const std::string& action,
                                   const std::string& detail, int status_code) {
  v1::AuditRecord r = AdminRecord(actor, action, detail);
  r.set_decision(v1::DECISION_DENY);
  r.set_status_code(status_code);
  r.set_identity_verified(identity_verified);
  r.set_tls_cert_sha256(cert_sha256);
  return r;
}

absl::StatusOr<AppendResult> AppendAndWait(AuditLog* log,
                                           v1::AuditRecord record) {
  absl::Notification done;
  absl::StatusOr<AppendResult> result;
  log->Append(std::move(record), [&](absl::StatusOr<AppendResult> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace dx::audit
