// AuditAdminRecorder: the node's AdminRecorder (audit/admin_recorder.h)
// over its audit log. It replaces the "append an admin record and wait"
// written once per component: policy and registry administration, the
// console, the authorization gate and the node itself (start, reloads,
// backups, overload counts) all record through one. Thread-safe; the log
// must outlive it.
#ifndef DX_GATEWAY_ADMIN_RECORDER_H_
#define DX_GATEWAY_ADMIN_RECORDER_H_

#include <string>

#include "audit/admin_recorder.h"
#include "audit/audit_log.h"

namespace dx::gateway {

class AuditAdminRecorder final : public audit::AdminRecorder {
 public:
  // `node_id` names the node's own records ("gateway:<node_id>").
  AuditAdminRecorder(audit::AuditLog* log, std::string node_id);

  absl::Status Record(const std::string& actor, const std::string& action,
                      const std::string& detail) override;
  // Safe without the wait: the refusal is answered whether or not its
  // record is written (it changes nothing), and the log writes records in
  // the order appended, so a crash loses at most the refusals still
  // queued for the log's next group commit (milliseconds of them); a
  // failed append is logged. A clean stop writes every one queued.
  void RecordRefusal(const audit::AdminRefusal& refusal) override;

  // The node's own record, as "gateway:<node_id>".
  absl::Status RecordForNode(const std::string& action,
                             const std::string& detail);
  const std::string& node_actor() const { return node_actor_; }

 private:
  audit::AuditLog* const log_;
  const std::string node_actor_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_ADMIN_RECORDER_H_
