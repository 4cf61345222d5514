#include "gateway/backends.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "policy/rocksdb_policy_store.h"
#include "replay/in_memory_replay_store.h"

namespace dx::gateway {
namespace {

class LocalRuntime final : public BackendsRuntime {
 public:
  explicit LocalRuntime(v1::ClusterNode self) : self_(std::move(self)) {}
  absl::Status Health() const override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<v1::ClusterNode>> Members() const override {
    return std::vector<v1::ClusterNode>{self_};
  }

 private:
  const v1::ClusterNode self_;
};

}  // namespace

absl::StatusOr<Backends> MakeBackends(const v1::GatewayConfig& config,
                                      const audit::AuditReader& audit,
                                      const Clock* clock) {
  if (config.cluster().etcd_endpoints_size() > 0) {
    return MakeEtcdBackends(config, audit, clock);
  }
  return MakeLocalBackends(config, audit, clock);
}

absl::StatusOr<Backends> MakeLocalBackends(const v1::GatewayConfig& config,
                                           const audit::AuditReader& audit,
                                           const Clock* clock) {
  Backends b;
  v1::ClusterNode self;
  self.set_node_id(config.node_id());
  self.set_address(config.listen_address());
  b.runtime = std::make_unique<LocalRuntime>(std::move(self));
  DX_ASSIGN_OR_RETURN(
      b.registry, registry::FileRegistrySource::Open(config.registry_file()));
  DX_ASSIGN_OR_RETURN(
      auto policy_store,
      policy::RocksDbPolicyStore::Open(DataDir(config.data_dir()).policy()));
  b.checkpoint_policy = [store = policy_store.get()](const std::string& dir) {
    return store->Checkpoint(dir);
  };
  b.policy_store = std::move(policy_store);
  b.quotas = std::make_unique<policy::LocalQuotaStore>();
  // Every request that got an answer had its record synced first: the
  // records of the last request lifetime (plus the clock skew) hold every
  // id and nonce that could still be replayed.
  auto replay = std::make_unique<replay::InMemoryReplayStore>(clock);
  DX_ASSIGN_OR_RETURN(uint64_t restored,
                      replay::RebuildFromAuditLog(
                          audit, replay.get(), clock->Now(),
                          absl::Seconds(config.max_request_lifetime_seconds() +
                                        config.clock_skew_seconds())));
  b.replay = std::move(replay);
  b.description = absl::StrCat(
      "local state (registry file, policy store in data_dir, quotas and "
      "replay guard in memory); replay guard: ",
      restored, " unexpired request ids restored from the audit log");
  return b;
}

}  // namespace dx::gateway
