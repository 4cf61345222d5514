#include "gateway/admin_recorder.h"

#include "absl/strings/str_cat.h"
#include "audit/admin.h"
#include "common/log.h"

namespace dx::gateway {

AuditAdminRecorder::AuditAdminRecorder(audit::AuditLog* log,
                                       std::string node_id)
    : log_(log), node_actor_(absl::StrCat("gateway:", node_id)) {}

absl::Status AuditAdminRecorder::Record(const std::string& actor,
                                        const std::string& action,
                                        const std::string& detail) {
  return audit::AppendAndWait(log_, audit::AdminRecord(actor, action, detail))
      .status();
}

void AuditAdminRecorder::RecordRefusal(const audit::AdminRefusal& r) {
  log_->Append(
      audit::AdminRefusalRecord(r.actor, r.identity_verified, r.cert_sha256,
                                r.action, r.detail, static_cast<int>(r.code)),
      [action = r.action](absl::StatusOr<audit::AppendResult> done) {
        if (!done.ok()) {
          LogEvent("dxgate", "warning",
                   absl::StrCat("cannot record ", action, ": ",
                                done.status().message()));
        }
      });
}

absl::Status AuditAdminRecorder::RecordForNode(const std::string& action,
                                               const std::string& detail) {
  return Record(node_actor_, action, detail);
}

}  // namespace dx::gateway
