// RegistrySource: the one interface to the registry a node has in force,
// wherever it lives: the registry file on this node (FileRegistrySource)
// or the cluster's store in etcd (cluster/etcd_registry_source.h). It says
// what is in force, tells listeners of each change (policy/policy_sync.h
// recompiles the policy against each new registry before either is used),
// and takes a change the way its store can: a commit where the store is
// shared (`dxctl registry apply`), a reload where it is this node's file.
// Each implementation refuses the other way, with FAILED_PRECONDITION and
// a message that says where the registry lives and how to change it, so
// that callers (gateway/registry_admin.h) never ask which kind they hold.
#ifndef DX_REGISTRY_REGISTRY_SOURCE_H_
#define DX_REGISTRY_REGISTRY_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/subscribers.h"
#include "common/watch_handle.h"
#include "registry/registry.h"

namespace dx::registry {

class RegistrySource {
 public:
  using Listener = std::function<void(std::shared_ptr<const Registry>)>;
  virtual ~RegistrySource() = default;

  // The registry in force; never null once the source is created.
  virtual std::shared_ptr<const Registry> Current() const = 0;

  // `listener` runs after every change, with the new registry, on the
  // thread that made or learned of it, until the handle is destroyed
  // (common/watch_handle.h). The handle may be destroyed from inside the
  // listener, and after the source is gone.
  [[nodiscard]] virtual std::unique_ptr<WatchHandle> Watch(
      Listener listener) = 0;

  // Where the registry lives, for people: "etcd", or "file PATH".
  virtual std::string Describe() const = 0;

  // OK where Commit() can store a change; otherwise the FAILED_PRECONDITION
  // it would return (asked before a change is validated and checked).
  virtual absl::Status CanCommit() const = 0;
  // Stores `yaml` (the caller has validated it) as revision
  // `expected_revision` + 1 and returns it; listeners hear of it as of any
  // change. ABORTED when another change came first. FAILED_PRECONDITION
  // where the registry is this node's file, which changes only by editing
  // it and reloading.
  virtual absl::StatusOr<uint64_t> Commit(const std::string& yaml,
                                          v1::RegistryRevision meta,
                                          uint64_t expected_revision) = 0;
  // The commits, newest first, at most `limit` (0: all); the YAML left
  // out. FAILED_PRECONDITION where the registry is a file (no history).
  virtual absl::StatusOr<std::vector<v1::RegistryRevision>> History(
      size_t limit) const = 0;

  // The file on this node that a reload reads again (SIGHUP, or a change
  // to the file). FAILED_PRECONDITION where the registry lives in a store
  // the nodes share (the file only seeded it).
  virtual absl::StatusOr<std::string> ReloadableFile() const = 0;
  // Installs `next`, read again from ReloadableFile() and validated by the
  // caller, and tells every listener. FAILED_PRECONDITION where there is
  // no such file.
  virtual absl::Status Reload(std::shared_ptr<const Registry> next) = 0;
};

// The registry file, read at start; Reload() swaps in a new version of it.
// Refuses commits. Thread-safe.
class FileRegistrySource final : public RegistrySource {
 public:
  static absl::StatusOr<std::unique_ptr<FileRegistrySource>> Open(
      const std::string& path);
  // `initial` as read from `path`.
  FileRegistrySource(std::string path, std::shared_ptr<const Registry> initial)
      : path_(std::move(path)), current_(std::move(initial)) {}

  std::shared_ptr<const Registry> Current() const override;
  [[nodiscard]] std::unique_ptr<WatchHandle> Watch(Listener listener) override;
  std::string Describe() const override;
  absl::Status CanCommit() const override;
  absl::StatusOr<uint64_t> Commit(const std::string& yaml,
                                  v1::RegistryRevision meta,
                                  uint64_t expected_revision) override;
  absl::StatusOr<std::vector<v1::RegistryRevision>> History(
      size_t limit) const override;
  absl::StatusOr<std::string> ReloadableFile() const override;
  absl::Status Reload(std::shared_ptr<const Registry> next) override;

 private:
  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Registry> current_ ABSL_GUARDED_BY(mu_);
  Subscribers<std::shared_ptr<const Registry>> listeners_;
};

}  // namespace dx::registry

#endif  // DX_REGISTRY_REGISTRY_SOURCE_H_
