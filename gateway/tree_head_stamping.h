// The node's time-stamping of its signed tree heads (audit.timestamping,
// docs/AUDIT.md "Time-stamps"): the stamper built from the configuration
// over this node's log and state database, its housekeeping duty, and its
// metrics (docs/OPERATIONS.md):
//   dx_audit_timestamp_lag_seconds          how long a signed tree head
//                                           has waited for a stamp (0: none
//                                           waits)
//   dx_audit_timestamp_last_success_seconds unix time of the last stamp's
//                                           genTime (absent: none yet)
//   dx_audit_timestamp_interval_seconds     the configured interval
//   dx_audit_timestamp_failures_total       attempts that stored nothing
//   dx_audit_timestamps_total               stamps stored since start
// The duty and the metrics share the stamper; they hold no other part of
// the node but the state database, which outlives the housekeeping.
#ifndef DX_GATEWAY_TREE_HEAD_STAMPING_H_
#define DX_GATEWAY_TREE_HEAD_STAMPING_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/periodic.h"
#include "dx/v1/config.pb.h"
#include "metrics/metrics.h"
#include "timestamp/stamper.h"

namespace dx::audit {
class StateDb;
}

namespace dx::gateway {

// Null when audit.timestamping has no url. Reads the roots files; fails
// when they hold no certificate. `db` outlives the stamper's duty.
absl::StatusOr<std::shared_ptr<timestamp::TreeHeadStamper>> MakeTreeHeadStamper(
    const v1::GatewayConfig& config, audit::StateDb* db, const Clock* clock);

// Ticks the stamper every min(interval, 10 s), at least every second; a
// failure is logged (the metrics count it).
BackgroundTasks::Task TreeHeadStampingDuty(
    std::shared_ptr<timestamp::TreeHeadStamper> stamper);

metrics::ScrapeFn TreeHeadStampingMetrics(
    std::shared_ptr<timestamp::TreeHeadStamper> stamper, const Clock* clock);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_TREE_HEAD_STAMPING_H_
