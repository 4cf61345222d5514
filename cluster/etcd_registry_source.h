// EtcdRegistrySource: the registry of a cluster, versioned in etcd like the
// sharing policy, so that a change (`dxctl registry apply`) is in force on
// every node without a restart.
//
// Keys under <prefix>registry/: head -> the revision (decimal); rev/<20-
// digit revision> -> RegistryRevision (the YAML, its author, time and
// comment). An empty store is seeded from the registry_file (revision 1,
// author "seed"; the first node to start wins). Each node reads the head
// at start and follows rev/ with an etcd watch; a revision that does not
// validate is not installed (its problem is logged; the old registry
// stays, and the policy is recompiled only for one that validates).
// Listeners run on the watch's thread. Refuses a reload: the file only
// seeded the store. Thread-safe.
#ifndef DX_CLUSTER_ETCD_REGISTRY_SOURCE_H_
#define DX_CLUSTER_ETCD_REGISTRY_SOURCE_H_

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/subscribers.h"
#include "etcd/client.h"
#include "etcd/watcher.h"
#include "registry/registry_source.h"

namespace dx::cluster {

class EtcdRegistrySource final : public registry::RegistrySource {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdRegistrySource>> Open(
      etcd::Client* client, std::string prefix, const std::string& seed_file);
  ~EtcdRegistrySource() override;

  std::shared_ptr<const registry::Registry> Current() const override;
  [[nodiscard]] std::unique_ptr<WatchHandle> Watch(Listener listener) override;
  std::string Describe() const override;
  absl::Status CanCommit() const override { return absl::OkStatus(); }
  absl::StatusOr<uint64_t> Commit(const std::string& yaml,
                                  v1::RegistryRevision meta,
                                  uint64_t expected_revision) override;
  absl::StatusOr<std::vector<v1::RegistryRevision>> History(
      size_t limit) const override;
  absl::StatusOr<std::string> ReloadableFile() const override;
  absl::Status Reload(std::shared_ptr<const registry::Registry> next) override;

 private:
  EtcdRegistrySource(etcd::Client* client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)) {}
  std::string Key(const std::string& suffix) const;
  absl::StatusOr<uint64_t> ReadHead(int64_t* etcd_revision) const;
  absl::StatusOr<v1::RegistryRevision> ReadRevision(uint64_t revision) const;
  void OnRevision(const v1::RegistryRevision& r);

  etcd::Client* const client_;
  const std::string prefix_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const registry::Registry> current_ ABSL_GUARDED_BY(mu_);
  Subscribers<std::shared_ptr<const registry::Registry>> listeners_;
  // Last: stopped first, so that no notice arrives while the rest goes.
  std::unique_ptr<etcd::Watcher> watch_;
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_ETCD_REGISTRY_SOURCE_H_
