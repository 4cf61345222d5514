// NodeMetrics: the families a gateway node computes when scraped, from
// state it keeps anyway: whether it serves, exchanges in flight and
// refused for overload, replay-guard entries, the audit log's records,
// bytes, disk space and last signed tree head, the policy and registry
// revisions, and the seconds left on every certificate and CRL it uses.
// Nothing is sampled in the background; a scrape reads a few files
// (certificates, the audit folder's sizes) and one RocksDB key.
#ifndef DX_GATEWAY_NODE_METRICS_H_
#define DX_GATEWAY_NODE_METRICS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "certs/expiry.h"
#include "common/clock.h"
#include "metrics/metrics.h"

namespace dx::audit {
class RocksDbAuditLog;
class StateDb;
}  // namespace dx::audit
namespace dx::policy {
class PolicySync;
}
namespace dx::replay {
class ReplayStore;
}

namespace dx::gateway {

class ExchangeService;

// Everything is owned by the GatewayServer, which stops the endpoint
// before any of it goes.
struct NodeMetricsSources {
  std::string node_id;
  const Clock* clock = nullptr;
  std::function<absl::Status()> not_serving;
  std::function<std::vector<certs::Expiry>()> expiries;
  const ExchangeService* exchange = nullptr;
  const replay::ReplayStore* replay = nullptr;
  const audit::RocksDbAuditLog* audit_log = nullptr;
  audit::StateDb* state_db = nullptr;
  std::string data_dir;
  uint64_t min_free_bytes = 0;
  const policy::PolicySync* policy = nullptr;
};

metrics::ScrapeFn NodeMetrics(NodeMetricsSources sources);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_NODE_METRICS_H_
