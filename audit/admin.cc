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
