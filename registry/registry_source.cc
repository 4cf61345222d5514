#include "registry/registry_source.h"

#include "common/status_macros.h"

namespace dx::registry {

absl::StatusOr<std::unique_ptr<FileRegistrySource>> FileRegistrySource::Open(
    const std::string& path) {
  DX_ASSIGN_OR_RETURN(std::shared_ptr<const Registry> r,
                      Registry::LoadFile(path));
  return std::make_unique<FileRegistrySource>(std::move(r));
}

std::shared_ptr<const Registry> FileRegistrySource::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

uint64_t FileRegistrySource::Subscribe(Listener listener) {
  absl::MutexLock lock(&mu_);
  listeners_.emplace(++last_id_, std::move(listener));
  return last_id_;
}

void FileRegistrySource::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(id);
}

void FileRegistrySource::Replace(std::shared_ptr<const Registry> next) {
  std::map<uint64_t, Listener> listeners;
  {
    absl::MutexLock lock(&mu_);
    current_ = next;
    listeners = listeners_;
  }
  for (const auto& [id, l] : listeners) l(next);
}

}  // namespace dx::registry
