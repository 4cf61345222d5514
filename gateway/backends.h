// Backends: the implementations behind the seams whose state a cluster of
// gateways shares (the registry, the sharing policy's revisions, the quota
// counters, the replay guard). MakeLocalBackends() gives the embedded
// single-node default, which needs no outside server: the registry file,
// a RocksDB policy store in data_dir, counters and the replay guard in
// memory (rebuilt from the audit log at every start). MakeEtcdBackends()
// gives the cluster's, in etcd (the dx_cluster library), when the config
// has a `cluster:` section; those also build the cluster's audit trail
// (ClusterAuditTrail), so that no other file of the gateway includes the
// cluster's or etcd's headers.
#ifndef DX_GATEWAY_BACKENDS_H_
#define DX_GATEWAY_BACKENDS_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/admin_recorder.h"
#include "audit/audit_reader.h"
#include "audit/checkpoint_source.h"
#include "common/clock.h"
#include "common/data_dir.h"
#include "dx/v1/cluster.pb.h"
#include "dx/v1/config.pb.h"
#include "policy/policy_store.h"
#include "policy/quota_store.h"
#include "registry/registry_source.h"
#include "replay/replay_store.h"

namespace dx::certs {
class Signer;
class TrustStore;
}  // namespace dx::certs

namespace dx::gateway {

// A cluster's audit trail: this node's signed tree heads published for the
// others, the checkpointer it stands for, and the cluster's checkpoint log
// that the Audit service proves from (docs/CLUSTER.md). Its life follows
// the node's: built with the services, started once the node listens,
// resigned before the audit log closes, and given the log's last tree
// head after. Thread-safe.
class ClusterAuditTrail {
 public:
  // What the trail uses of the node; each must outlive it.
  struct Deps {
    const audit::AuditReader* reader = nullptr;  // this node's log
    certs::TrustStore* trust = nullptr;
    const certs::Signer* log_signer = nullptr;  // signs the cluster heads
    audit::AdminRecorder* recorder = nullptr;
    const Clock* clock = nullptr;
  };
  virtual ~ClusterAuditTrail() = default;
  // For the Audit service's proofs.
  virtual audit::CheckpointSource* checkpoints() = 0;
  // Every node that ever published a tree head, and the alarms raised.
  virtual absl::StatusOr<std::vector<v1::ClusterNode>> KnownNodes() const = 0;
  virtual absl::StatusOr<std::vector<v1::CheckpointAlarm>> Alarms() const = 0;
  // Publishes this node's tree heads as reached at `address`, and stands
  // for checkpointer.
  virtual void Start(const std::string& address) = 0;
  // Resigns as checkpointer (another node takes over at once); before the
  // audit log closes.
  virtual void Resign() = 0;
  // Publishes the last tree head the closed log signed.
  virtual void PublishLast() = 0;
};

// What the backends share and must outlive them (the cluster's etcd
// client, this node's membership), and what it says of their health.
class BackendsRuntime {
 public:
  virtual ~BackendsRuntime() = default;
  // OK while the shared state answers; UNAVAILABLE with why otherwise.
  virtual absl::Status Health() const = 0;
  // The nodes of the cluster that are alive (this one alone when local).
  virtual absl::StatusOr<std::vector<v1::ClusterNode>> Members() const = 0;
  // Where this node is reached, once it listens (a cluster publishes it).
  virtual void Advertise(const std::string& /*address*/) {}
  // The cluster's audit trail (null when local: the node's own signed tree
  // heads are the root of trust).
  virtual std::unique_ptr<ClusterAuditTrail> MakeAuditTrail(
      const ClusterAuditTrail::Deps& /*deps*/) {
    return nullptr;
  }
};

struct Backends {
  // First, so that it goes last.
  std::unique_ptr<BackendsRuntime> runtime;
  // The registry file (local: reloads, no commits) or the cluster's
  // (commits, no reloads); the source says which it takes.
  std::unique_ptr<registry::RegistrySource> registry;
  std::unique_ptr<policy::PolicyStore> policy_store;
  std::unique_ptr<policy::QuotaStore> quotas;
  std::unique_ptr<replay::ReplayStore> replay;
  // How long the node may go without word from the policy store before it
  // refuses exchanges (0: the store is local, and always current).
  absl::Duration policy_max_staleness = absl::ZeroDuration();
  // Copies the policy store into a backup folder; null when the policy
  // lives elsewhere (etcd: backed up with etcdctl snapshot save).
  std::function<absl::Status(const std::string& dir)> checkpoint_policy;
  // A line for the start-up log: what was chosen, and what it restored.
  std::string description;
};

// The embedded default. `audit` is the node's own log, from which the
// replay guard is rebuilt.
absl::StatusOr<Backends> MakeLocalBackends(const v1::GatewayConfig& config,
                                           const audit::AuditReader& audit,
                                           const Clock* clock);

// The cluster's, in etcd (config.cluster); joins the cluster.
absl::StatusOr<Backends> MakeEtcdBackends(const v1::GatewayConfig& config,
                                          const audit::AuditReader& audit,
                                          const Clock* clock);

// The etcd backends when the config has a cluster section, else local.
absl::StatusOr<Backends> MakeBackends(const v1::GatewayConfig& config,
                                      const audit::AuditReader& audit,
                                      const Clock* clock);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_BACKENDS_H_
