// Backends: the implementations behind the seams whose state a cluster of
// gateways shares (the registry, the sharing policy's revisions, the quota
// counters, the replay guard). MakeLocalBackends() gives the embedded
// single-node default, which needs no outside server: the registry file,
// a RocksDB policy store in data_dir, counters and the replay guard in
// memory (rebuilt from the audit log at every start). The cluster's etcd
// implementations are the other choice, selected by the config.
#ifndef DX_GATEWAY_BACKENDS_H_
#define DX_GATEWAY_BACKENDS_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/audit_reader.h"
#include "common/clock.h"
#include "common/data_dir.h"
#include "dx/v1/config.pb.h"
#include "policy/policy_store.h"
#include "policy/quota_store.h"
#include "registry/registry_source.h"
#include "replay/replay_store.h"

namespace dx::gateway {

struct Backends {
  std::unique_ptr<registry::RegistrySource> registry;
  std::unique_ptr<policy::PolicyStore> policy_store;
  std::unique_ptr<policy::QuotaStore> quotas;
  std::unique_ptr<replay::ReplayStore> replay;
  // How long the node may go without word from the policy store before it
  // refuses exchanges (0: the store is local, and always current).
  absl::Duration policy_max_staleness = absl::ZeroDuration();
  // A line for the start-up log: what was chosen, and what it restored.
  std::string description;
};

// The embedded default. `audit` is the node's own log, from which the
// replay guard is rebuilt.
absl::StatusOr<Backends> MakeLocalBackends(const v1::GatewayConfig& config,
                                           const audit::AuditReader& audit,
                                           const Clock* clock);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_BACKENDS_H_
