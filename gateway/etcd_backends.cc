// The cluster's backends: one etcd client for the node, this node's
// membership, the etcd implementation of each shared seam (cluster/), and
// the cluster's audit trail. The one file of gateway/ that knows cluster/
// and etcd/.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cluster/checkpoint_log.h"
#include "cluster/checkpointer.h"
#include "cluster/etcd_policy_store.h"
#include "cluster/etcd_quota_store.h"
#include "cluster/etcd_registry_source.h"
#include "cluster/etcd_replay_store.h"
#include "cluster/membership.h"
#include "cluster/tree_head_publisher.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "etcd/client.h"
#include "gateway/backends.h"

namespace dx::gateway {
namespace {

class EtcdAuditTrail final : public ClusterAuditTrail {
 public:
  EtcdAuditTrail(etcd::Client* client, const v1::GatewayConfig& config,
                 const Deps& deps)
      : client_(client),
        cluster_(config.cluster()),
        node_id_(config.node_id()),
        deps_(deps),
        log_(client, cluster_.prefix()) {}
  ~EtcdAuditTrail() override { Resign(); }

  audit::CheckpointSource* checkpoints() override { return &log_; }
  absl::StatusOr<std::vector<v1::ClusterNode>> KnownNodes() const override {
    return log_.KnownNodes();
  }
  absl::StatusOr<std::vector<v1::CheckpointAlarm>> Alarms() const override {
    return log_.Alarms();
  }
  void Start(const std::string& address) override {
    publisher_ = cluster::TreeHeadPublisher::Start(
        client_, deps_.reader,
        {cluster_.prefix(), node_id_, address,
         absl::Milliseconds(cluster_.tree_head_publish_ms())});
    cluster::Checkpointer::Deps deps;
    deps.client = client_;
    deps.log = &log_;
    deps.trust = deps_.trust;
    deps.signer = deps_.log_signer;
    deps.clock = deps_.clock;
    deps.record = [recorder = deps_.recorder,
                   actor = absl::StrCat("gateway:", node_id_)](
                      const std::string& action, const std::string& detail) {
      if (absl::Status s = recorder->Record(actor, action, detail); !s.ok()) {
        LogEvent("dxgate", "info",
                 absl::StrCat("cannot record ", action, ": ", s.message()));
      }
    };
    cluster::Checkpointer::Options options;
    options.node_id = node_id_;
    options.every = absl::Milliseconds(cluster_.checkpoint_interval_ms());
    checkpointer_ = cluster::Checkpointer::Start(std::move(deps), options);
  }
  void Resign() override {
    checkpointer_.reset();  // resigns: another node takes over at once
  }
  void PublishLast() override {
    if (publisher_ == nullptr) return;
    (void)publisher_->PublishOnce();
    publisher_.reset();
  }

 private:
  etcd::Client* const client_;
  const v1::ClusterConfig cluster_;
  const std::string node_id_;
  const Deps deps_;
  cluster::CheckpointLog log_;
  std::unique_ptr<cluster::TreeHeadPublisher> publisher_;
  std::unique_ptr<cluster::Checkpointer> checkpointer_;
};

class EtcdRuntime final : public BackendsRuntime {
 public:
  explicit EtcdRuntime(const v1::GatewayConfig& config) : config_(config) {}
  absl::Status Health() const override { return membership->Health(); }
  absl::StatusOr<std::vector<v1::ClusterNode>> Members() const override {
    return membership->Members();
  }
  void Advertise(const std::string& address) override {
    (void)membership->SetAddress(address);
  }
  std::unique_ptr<ClusterAuditTrail> MakeAuditTrail(
      const ClusterAuditTrail::Deps& deps) override {
    return std::make_unique<EtcdAuditTrail>(client.get(), config_, deps);
  }
  // The client first: everything else uses it, so it goes last.
  std::unique_ptr<etcd::Client> client;
  std::unique_ptr<cluster::Membership> membership;

 private:
  const v1::GatewayConfig config_;
};

}  // namespace

absl::StatusOr<Backends> MakeEtcdBackends(const v1::GatewayConfig& config,
                                          const audit::AuditReader&,
                                          const Clock* clock) {
  const v1::ClusterConfig& c = config.cluster();
  auto runtime = std::make_unique<EtcdRuntime>(config);
  etcd::Client::Options eo;
  eo.endpoints.assign(c.etcd_endpoints().begin(), c.etcd_endpoints().end());
  eo.ca_file = c.etcd_ca_file();
  eo.cert_file = c.etcd_cert_file();
  eo.key_file = c.etcd_key_file();
  eo.attempt_timeout = absl::Milliseconds(c.etcd_timeout_ms());
  DX_ASSIGN_OR_RETURN(runtime->client, etcd::Client::Create(eo));
  etcd::Client* client = runtime->client.get();
  const absl::Duration staleness = absl::Milliseconds(c.max_staleness_ms());

  cluster::Membership::Options mo;
  mo.prefix = c.prefix();
  mo.self.set_node_id(config.node_id());
  mo.self.set_address(c.advertise_address());
  mo.self.set_started_unix_micros(absl::ToUnixMicros(clock->Now()));
  mo.max_staleness = staleness;
  auto membership = cluster::Membership::Join(client, clock, mo);
  if (!membership.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot join the cluster through etcd (",
        absl::StrJoin(c.etcd_endpoints(), ", "),
        "): ", membership.status().message(),
        ". Check that etcd runs and cluster.etcd_endpoints lists its members"));
  }
  runtime->membership = *std::move(membership);

  Backends b;
  DX_ASSIGN_OR_RETURN(
      b.registry, cluster::EtcdRegistrySource::Open(client, c.prefix(),
                                                    config.registry_file()));
  cluster::EtcdPolicyStore::Options po;
  po.prefix = c.prefix();
  po.confirm_interval = std::max(absl::Milliseconds(100), staleness / 5);
  b.policy_store =
      std::make_unique<cluster::EtcdPolicyStore>(client, clock, po);
  b.quotas = std::make_unique<cluster::EtcdQuotaStore>(
      client, clock,
      cluster::EtcdQuotaStore::Options{c.prefix(), c.quota_chunk()});
  cluster::EtcdReplayStore::Options ro;
  ro.prefix = c.prefix();
  ro.node_id = config.node_id();
  ro.max_batch = c.replay_batch();
  b.replay = std::make_unique<cluster::EtcdReplayStore>(client, clock, ro);
  b.policy_max_staleness = staleness;
  b.runtime = std::move(runtime);
  b.description = absl::StrCat("cluster state in etcd (",
                               absl::StrJoin(c.etcd_endpoints(), ", "),
                               ", prefix ", c.prefix(), "); registry revision ",
                               b.registry->Current()->revision());
  return b;
}

}  // namespace dx::gateway
