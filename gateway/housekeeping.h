// Housekeeping: a node's background duties, each its own task on
// BackgroundTasks (common/periodic.h), so that a slow one (a file system
// that hangs a reload) delays no other:
//  - readiness, every 200 ms: keeps health's watchers in step when no call
//    comes (e.g. the store falls silent past max_staleness_ms);
//  - watch, every second: the ConfigReloader's look at the watched files;
//  - crl, every crl_reload_seconds (at once too): reloads changed CRLs;
//  - overload, every 10 s: the count of exchanges refused for
//    max_in_flight, recorded as one record (one by one would feed the
//    flood);
//  - refusals, every 10 s: the gate's counts of refused administrative
//    calls over its budget whose minute is over;
//  - serving, every 5 s (at once too): notes whether the node is ready in
//    the state database (audit/serving_log.h), the availability that
//    statistics reports measure;
//  - timestamp (when audit.timestamping is set): RFC 3161 stamps of the
//    tree heads (gateway/tree_head_stamping.h);
//  - witness-submit (when witness.peers is set), every
//    submit_interval_seconds (at once too): the log's latest checkpoint to
//    the peer witnesses (gateway/witness_submitter.h);
// and, once, the end of a prune that a crash interrupted (audit/pruner.h).
// When statistics_push is configured, the reports' pusher
// (gateway/statistics_push.h) runs beside them, on its own thread.
// The duties stop before the node drains, so that none of them acts on a
// node going away; the prune, after it (an auditor's prune may be under way).
#ifndef DX_GATEWAY_HOUSEKEEPING_H_
#define DX_GATEWAY_HOUSEKEEPING_H_

#include <memory>
#include <thread>
#include <vector>

#include "common/periodic.h"

namespace dx::audit {
class AuditReader;
}  // namespace dx::audit

namespace dx::gateway {

class StatisticsPush;

class ConfigReloader;
class NodeComponents;

class Housekeeping {
 public:
  // Starts the duties; `parts` and `reloader` must outlive it.
  Housekeeping(NodeComponents* parts, ConfigReloader* reloader);
  // Stop() if that was not done; then interrupts a prune under way where
  // it can resume, and waits for the resumption's thread.
  ~Housekeeping();

  // Returns once no duty runs (each finishes the run in progress).
  // Idempotent.
  void Stop();

  const std::vector<std::string>& duties() const { return tasks_.names(); }

 private:
  NodeComponents* const parts_;
  BackgroundTasks tasks_;
  std::unique_ptr<audit::AuditReader> reader_;  // for the pusher
  std::unique_ptr<StatisticsPush> push_;        // null: not configured
  std::thread prune_resumer_;
};

// The duties, for BackgroundTasks (what Housekeeping runs).
std::vector<BackgroundTasks::Task> HousekeepingDuties(NodeComponents* parts,
                                                      ConfigReloader* reloader);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_HOUSEKEEPING_H_
