// GatewayServer: one gateway node, built from its configuration and its
// backends, started and stopped as a unit. main.cc runs one per process;
// tests start one in-process on a free port. It owns every part and wires
// them: the trust store, the signing keys, the audit log (RocksDB), the
// backends (local or the cluster's), the policy sync and admin, the
// authorization gate, and the gRPC services (Exchange, Audit,
// PolicyAdmin, RegistryAdmin, health, reflection) on one mutual-TLS port. A
// housekeeping thread reloads CRLs, keeps health in step with what may be
// served (gateway/readiness.h), and records overload refusals, all on the
// injected clock.
#ifndef DX_GATEWAY_SERVER_H_
#define DX_GATEWAY_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "certs/expiry.h"
#include "certs/trust_store.h"
#include "common/clock.h"
#include "dx/v1/cluster.pb.h"
#include "dx/v1/config.pb.h"
#include "gateway/backends.h"

namespace grpc {
class Server;
}

namespace dx::audit {
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
namespace dx::policy {
class PolicyAdmin;
class PolicySync;
}  // namespace dx::policy

namespace dx::metrics {
class HttpEndpoint;
class Metrics;
}  // namespace dx::metrics

namespace dx::console {
class ConsoleServer;
}

namespace dx::services {
class AuditService;
class NodeService;
class PolicyAdminService;
class RegistryAdminService;
}  // namespace dx::services

namespace dx::cluster {
class CheckpointLog;
class Checkpointer;
class TreeHeadPublisher;
}  // namespace dx::cluster

namespace dx::gateway {

class AdapterPool;
class ExchangeLog;
class ExchangeObservers;
class ExchangeService;
class PrometheusExchangeMetrics;
class RegistryAdmin;
class Readiness;
class RequestChecker;

class GatewayServer {
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

  // `config` as LoadGatewayConfig() returns it; `config_path` names the
  // file in the start record.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(
      v1::GatewayConfig config, std::string config_path, Options options);
  // Shuts down if that was not done.
  ~GatewayServer();

  int port() const { return port_; }
  // Reads again what changed of the registry file, TLS certificate and
  // key, signing keys and trust anchors; checks each whole, then puts it in
  // force or refuses it (the old stays), and records either. `trigger`:
  // e.g. "SIGHUP"; empty for the housekeeping's watch of the files.
  void Reload(const std::string& trigger);
  // Refuses new calls, drains those in flight (up to
  // shutdown_grace_seconds), writes what the audit log has queued and a
  // last tree head, and closes the databases.
  void Shutdown();

 private:
  GatewayServer(v1::GatewayConfig config, std::string config_path,
                Options options);
  absl::Status Open();
  // The trust store's options from the configuration.
  certs::TrustStore::Options TrustOptions() const;
  absl::Status OpenKeys();
  absl::Status OpenAuditLog();
  absl::Status OpenPolicy();
  std::string PolicyStartLine(uint64_t head, bool in_force) const;
  absl::Status BuildServices();
  absl::Status Listen();
  absl::Status RecordStart();
  // Finishes a prune that a crash interrupted (audit/pruner.h), on its own
  // thread while the node serves.
  void ResumePrune();
  // In a cluster: publish this node's tree heads, stand for checkpointer.
  void StartClusterAudit();
  std::string AdvertisedAddress() const;
  absl::Status Record(const std::string& action, const std::string& detail);
  // The /metrics and /healthz port, when the config has one.
  absl::Status StartMetricsEndpoint();
  // The web console's HTTPS port, when the config has one.
  absl::Status StartConsole();
  void SetServing(bool serving);
  // Why nothing can be served now (OK: it can).
  absl::Status NotServingReason() const;
  v1::NodeStatus Status() const;
  absl::StatusOr<v1::BackupManifest> Backup(const std::string& actor,
                                            const std::string& out_dir);
  // The certificates and CRLs this node relies on, and when they run out.
  std::vector<certs::Expiry> Expiries() const;
  void Housekeeping();

  // server_reload.cc
  struct Reloadable {
    std::string name;
    std::vector<std::string> files;
    std::function<absl::StatusOr<std::string>(const std::string& trigger)>
        apply;
  };
  std::vector<Reloadable> Reloadables();
  void StartWatching();
  absl::StatusOr<std::string> ReloadRegistry(const std::string& trigger);
  absl::StatusOr<std::string> ReloadSigner(const v1::KeyPair& files,
                                           certs::Signer* signer);
  // Checks the TLS pair and writes the copies gRPC serves with.
  absl::StatusOr<std::string> InstallTls();
  absl::StatusOr<std::string> ReloadTrust();
  absl::Status CheckOwnCertificate(const std::string& what,
                                   const std::string& der);

  const v1::GatewayConfig config_;
  const std::string config_path_;
  const Options options_;
  const Clock* const clock_;

  std::unique_ptr<certs::TrustStore> trust_;
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<certs::Signer> separate_log_signer_;
  const certs::Signer* log_signer_ = nullptr;
  std::string subject_key_;
  std::unique_ptr<audit::StateDb> state_db_;
  std::unique_ptr<audit::RocksDbAuditLog> audit_log_;
  std::unique_ptr<audit::Pruner> pruner_;
  Backends backends_;
  std::unique_ptr<RequestChecker> checker_;
  // Whether exchanges may be served, and what health says: one gate.
  std::unique_ptr<Readiness> readiness_;
  std::unique_ptr<policy::PolicySync> sync_;
  std::unique_ptr<policy::PolicyAdmin> policy_admin_;
  // The revision in force when PolicySync started (before any seeding).
  uint64_t start_revision_ = 0;
  std::unique_ptr<AdapterPool> adapters_;
  // Null when metrics are off.
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<PrometheusExchangeMetrics> exchange_metrics_;
  std::unique_ptr<ExchangeLog> exchange_log_;
  std::unique_ptr<ExchangeObservers> observers_;
  std::unique_ptr<metrics::HttpEndpoint> metrics_endpoint_;
  std::unique_ptr<console::ConsoleServer> console_;
  std::unique_ptr<authz::CallGate> gate_;
  std::unique_ptr<ExchangeService> exchange_;
  std::unique_ptr<services::AuditService> audit_service_;
  std::unique_ptr<services::PolicyAdminService> policy_service_;
  std::unique_ptr<RegistryAdmin> registry_admin_;
  std::unique_ptr<services::RegistryAdminService> registry_service_;
  std::unique_ptr<services::NodeService> node_service_;
  // A cluster's audit trail (null on a single node).
  std::unique_ptr<cluster::CheckpointLog> checkpoint_log_;
  std::unique_ptr<audit::AuditReader> cluster_reader_;
  std::unique_ptr<cluster::TreeHeadPublisher> publisher_;
  std::unique_ptr<cluster::Checkpointer> checkpointer_;
  absl::Time started_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  absl::Mutex reload_mu_;
  std::map<std::string, std::string> seen_digests_ ABSL_GUARDED_BY(reload_mu_);
  std::map<std::string, std::string> settling_digests_
      ABSL_GUARDED_BY(reload_mu_);
  // The trust anchors in force (PEM), as the trust store last accepted
  // them: what the TLS port and the adapters' channels are given, never the
  // file as it is now (it may hold anchors just refused). Written at start
  // and then only by reloads, under reload_mu_.
  std::string anchors_pem_;

  std::atomic<bool> stop_{false};
  bool shut_down_ = false;
  std::thread housekeeping_;
  std::thread prune_resumer_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_SERVER_H_
