#include "registry/registry_source.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace dx::registry {

absl::StatusOr<std::unique_ptr<FileRegistrySource>> FileRegistrySource::Open(
    const std::string& path) {
  DX_ASSIGN_OR_RETURN(std::shared_ptr<const Registry> r,
                      Registry::LoadFile(path));
  return std::make_unique<FileRegistrySource>(path, std::move(r));
}

std::shared_ptr<const Registry> FileRegistrySource::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::unique_ptr<WatchHandle> FileRegistrySource::Watch(Listener listener) {
  return listeners_.Add(std::move(listener));
}

std::string FileRegistrySource::Describe() const {
  return absl::StrCat("file ", path_);
}

absl::StatusOr<uint64_t> FileRegistrySource::Commit(const std::string&,
                                                    v1::RegistryRevision,
                                                    uint64_t) {
  return CanCommit();
}

absl::Status FileRegistrySource::CanCommit() const {
  return absl::FailedPreconditionError(absl::StrCat(
      "this node reads its registry from ", path_,
      ", a file on this node; change that file (one node), or run a cluster "
      "(cluster: in dxgate.yaml), whose registry lives in etcd"));
}

absl::StatusOr<std::vector<v1::RegistryRevision>> FileRegistrySource::History(
    size_t) const {
  return absl::FailedPreconditionError(
      absl::StrCat("this node reads its registry from ", path_,
                   ", which has no history here"));
}

absl::StatusOr<std::string> FileRegistrySource::ReloadableFile() const {
  return path_;
}

absl::Status FileRegistrySource::Reload(std::shared_ptr<const Registry> next) {
  {
    absl::MutexLock lock(&mu_);
    current_ = next;
  }
  listeners_.Notify(next);
  return absl::OkStatus();
}

}  // namespace dx::registry
