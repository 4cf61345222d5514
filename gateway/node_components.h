// NodeComponents: the parts of one gateway node, built from its
// configuration in dependency order and torn down in the reverse. The gRPC
// front end (gateway/grpc_front_end.h), the HTTP ports and the
// housekeeping use them; GatewayServer (gateway/server.h) starts and stops
// the whole. Not thread-safe to build or close; the parts are thread-safe.
//
// The order, and why each comes before the next (members are declared in
// it, so destruction is its reverse; Close() writes the one exception):
//  1. trust: every certificate the node meets, its own included, is
//     checked by it.
//  2. signer, log signer: the node's keys; the audit log signs its tree
//     heads with the log signer.
//  3. subject_key, state_db: the data folder; the audit log, its readers
//     and the pruner live in state_db. federation: the anchors in force
//     (their serials are kept in state_db); federation_routes: the trust
//     and routes the exchange pipeline asks of them.
//  4. audit_log: every later part records through it.
//  5. recorder: the one way admin records reach the log (audit_log).
//  6. pruner: prunes audit_log in state_db.
//  7. backends: built from the audit log's reader (the replay guard is
//     rebuilt from it); the shared state everything below reads.
//  8. trail_reader, trail: a cluster's audit trail, built by the backends
//     (null on one node): reads this node's log, signs with the log key,
//     records through recorder.
//  9. checker: verifies requests with trust.
// 10. sync: the sharing policy, compiled from the backends' stores.
// 11. policy_admin: changes the policy in the store, waits for sync.
// 12. registry_admin: changes the registry, checked against sync.
// 13. adapters: the channels to the adapters (the TLS pair, the anchors);
//     peers: the channels to peer platforms' gateways (the TLS pair).
// 14. readiness: asks audit_log, the backends and sync whether to serve.
// 15. metrics, exchange_metrics, exchange_log, observers: watch exchanges.
// 16. exchange: the Exchange pipeline, on all of the above.
// 17. gate: admits administrative calls (trust) and records refusals
//     (recorder).
// 18. reloads: puts new files in force into trust, the signers, adapters
//     and registry_admin.
// 19. stamper: time-stamps the tree heads of audit_log in state_db (null
//     unless audit.timestamping is set); the housekeeping ticks it.
#ifndef DX_GATEWAY_NODE_COMPONENTS_H_
#define DX_GATEWAY_NODE_COMPONENTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/expiry.h"
#include "common/clock.h"
#include "dx/v1/cluster.pb.h"
#include "dx/v1/config.pb.h"
#include "gateway/backends.h"

namespace dx::audit {
class AuditReader;
class Pruner;
class RocksDbAuditLog;
class StateDb;
}  // namespace dx::audit
namespace dx::authz {
class CallGate;
}
namespace dx::certs {
class Signer;
class TrustStore;
}  // namespace dx::certs
namespace dx::metrics {
class Metrics;
}
namespace dx::timestamp {
class TreeHeadStamper;
}
namespace dx::policy {
class PolicyAdmin;
class PolicySync;
}  // namespace dx::policy

namespace dx::gateway {

class AdapterPool;
class AuditAdminRecorder;
class ExchangeLog;
class ExchangeObservers;
class ExchangeService;
class FederationAnchors;
class NodeReloads;
class PrometheusExchangeMetrics;
class Readiness;
class RegistryAdmin;
class RequestChecker;
class FederationRoutes;
class PeerPool;

class NodeComponents {
 public:
  using BackendsFactory = std::function<absl::StatusOr<Backends>(
      const v1::GatewayConfig&, const audit::AuditReader&, const Clock*)>;
  struct Options {
    const Clock* clock = SystemClock::Get();
    // Local state, or etcd's when the configuration has a cluster section.
    BackendsFactory make_backends = MakeBackends;
    // How long the start waits for the store's policy head to be in force
    // before it listens (it refuses exchanges until then either way).
    absl::Duration policy_start_wait = absl::Seconds(10);
  };

  // `config` must outlive the components.
  static absl::StatusOr<std::unique_ptr<NodeComponents>> Build(
      const v1::GatewayConfig& config, const Options& options);
  // Close() if that was not done.
  ~NodeComponents();
  NodeComponents(const NodeComponents&) = delete;
  NodeComponents& operator=(const NodeComponents&) = delete;

  // In the reverse order of the list above, but for the cluster's trail:
  // it resigns as checkpointer first (another node takes over at once),
  // and publishes the log's last tree head only after the log closed
  // (which writes what it has queued and signs that head). Returns the
  // number of records the log held.
  uint64_t Close();

  v1::NodeStatus Status() const;
  // When what the node relies on runs out: NodeExpiries(config) and the
  // federation anchors in force.
  std::vector<certs::Expiry> Expiries() const;
  absl::StatusOr<v1::BackupManifest> Backup(const std::string& actor,
                                            const std::string& out_dir);

  const v1::GatewayConfig& config;
  const Clock* const clock;
  const absl::Time started;

  std::unique_ptr<certs::TrustStore> trust;
  std::unique_ptr<certs::Signer> signer;
  std::unique_ptr<certs::Signer> separate_log_signer;
  const certs::Signer* log_signer = nullptr;
  std::string subject_key;
  std::unique_ptr<audit::StateDb> state_db;
  std::unique_ptr<FederationAnchors> federation;        // null: no federation
  std::unique_ptr<FederationRoutes> federation_routes;  // null: none
  std::unique_ptr<audit::RocksDbAuditLog> audit_log;
  std::unique_ptr<AuditAdminRecorder> recorder;
  std::unique_ptr<audit::Pruner> pruner;
  Backends backends;
  std::unique_ptr<audit::AuditReader> trail_reader;
  std::unique_ptr<ClusterAuditTrail> trail;  // null on a single node
  std::unique_ptr<RequestChecker> checker;
  std::unique_ptr<policy::PolicySync> sync;
  // The revision in force when PolicySync started (before any seeding).
  uint64_t start_revision = 0;
  std::unique_ptr<policy::PolicyAdmin> policy_admin;
  std::unique_ptr<RegistryAdmin> registry_admin;
  std::unique_ptr<AdapterPool> adapters;
  std::unique_ptr<PeerPool> peers;  // null: no federation
  std::unique_ptr<Readiness> readiness;
  std::unique_ptr<metrics::Metrics> metrics;  // null when metrics are off
  std::unique_ptr<PrometheusExchangeMetrics> exchange_metrics;
  std::unique_ptr<ExchangeLog> exchange_log;
  std::unique_ptr<ExchangeObservers> observers;
  std::unique_ptr<ExchangeService> exchange;
  std::unique_ptr<authz::CallGate> gate;
  std::unique_ptr<NodeReloads> reloads;
  // Shared with the housekeeping duty and the metrics that read it.
  std::shared_ptr<timestamp::TreeHeadStamper> stamper;

 private:
  NodeComponents(const v1::GatewayConfig& config, const Options& options);
  absl::Status OpenKeys(std::string* anchors_pem);
  absl::Status OpenAuditLog();
  absl::Status OpenBackends();
  absl::Status OpenPolicy();
  std::string PolicyStartLine(uint64_t head, bool in_force) const;
  absl::Status BuildExchange();

  const Options options_;
  bool closed_ = false;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_NODE_COMPONENTS_H_
