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
// Thread-safe.
#ifndef DX_CLUSTER_ETCD_REGISTRY_SOURCE_H_
#define DX_CLUSTER_ETCD_REGISTRY_SOURCE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "etcd/client.h"
#include "etcd/watcher.h"
#include "registry/registry_source.h"

namespace dx::cluster {

class EtcdRegistrySource final : public registry::WritableRegistrySource {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdRegistrySource>> Open(
      etcd::Client* client, std::string prefix, const std::string& seed_file);
  ~EtcdRegistrySource() override;

  std::shared_ptr<const registry::Registry> Current() const override;
  uint64_t Subscribe(Listener listener) override;
  void Unsubscribe(uint64_t id) override;
  absl::StatusOr<uint64_t> Commit(const std::string& yaml,
                                  v1::RegistryRevision meta,
                                  uint64_t expected_revision) override;
  absl::StatusOr<std::vector<v1::RegistryRevision>> History(
      size_t limit) const override;

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
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Listener> listeners_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<etcd::Watcher> watch_;
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_ETCD_REGISTRY_SOURCE_H_
