// RegistrySource: where the registry in force comes from, and how its
// changes reach the sharing policy (policy/policy_sync.h recompiles the
// policy against each new registry before either is used). The local
// source reads the registry file; the cluster's keeps it in etcd.
#ifndef DX_REGISTRY_REGISTRY_SOURCE_H_
#define DX_REGISTRY_REGISTRY_SOURCE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/registry.h"

namespace dx::registry {

class RegistrySource {
 public:
  using Listener = std::function<void(std::shared_ptr<const Registry>)>;
  virtual ~RegistrySource() = default;

  // The registry in force; never null once the source is created.
  virtual std::shared_ptr<const Registry> Current() const = 0;
  // `listener` runs after every change, with the new registry, on the
  // thread that made or learned of it, until Unsubscribe(returned id).
  virtual uint64_t Subscribe(Listener listener) = 0;
  virtual void Unsubscribe(uint64_t id) = 0;
};

// A source that takes changes (the cluster's, in etcd): what `dxctl
// registry apply` commits to. Commits are compare-and-swap on the revision.
class WritableRegistrySource : public RegistrySource {
 public:
  // Stores `yaml` as revision `expected_revision` + 1 and returns it (the
  // caller has validated it). ABORTED when another change came first.
  virtual absl::StatusOr<uint64_t> Commit(const std::string& yaml,
                                          v1::RegistryRevision meta,
                                          uint64_t expected_revision) = 0;
  // Newest first, at most `limit` (0: all); the YAML left out.
  virtual absl::StatusOr<std::vector<v1::RegistryRevision>> History(
      size_t limit) const = 0;
};

// The registry file, read at start; Replace() swaps in a new version (a
// reload of the file). Thread-safe.
class FileRegistrySource final : public RegistrySource {
 public:
  static absl::StatusOr<std::unique_ptr<FileRegistrySource>> Open(
      const std::string& path);
  explicit FileRegistrySource(std::shared_ptr<const Registry> initial)
      : current_(std::move(initial)) {}

  std::shared_ptr<const Registry> Current() const override;
  uint64_t Subscribe(Listener listener) override;
  void Unsubscribe(uint64_t id) override;
  // Installs `next` and tells every listener.
  void Replace(std::shared_ptr<const Registry> next);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Registry> current_ ABSL_GUARDED_BY(mu_);
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Listener> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::registry

#endif  // DX_REGISTRY_REGISTRY_SOURCE_H_
