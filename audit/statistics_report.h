// The statistics report of a day or month from one node's log: the records
// of the period up to the newest signed tree head (read through the time
// index, a page at a time), the node's heartbeats (audit/serving_log.h),
// signed with the log key. docs/AUDIT.md#statistics-reports.
#ifndef DX_AUDIT_STATISTICS_REPORT_H_
#define DX_AUDIT_STATISTICS_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/audit_reader.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "dx/v1/reports.pb.h"

namespace dx::audit {

// INVALID_ARGUMENT for a bad period or date, or a period that has not
// begun at `now`; FAILED_PRECONDITION when the log has no signed tree head
// yet. A period under way is reported as far as it went.
absl::StatusOr<v1::SignedStatisticsReport> BuildStatisticsReport(
    const AuditReader& reader, StateDb* db, const certs::Signer& signer,
    const std::string& node_id, const v1::StatisticsReportRequest& request,
    absl::Time now);

}  // namespace dx::audit

#endif  // DX_AUDIT_STATISTICS_REPORT_H_
