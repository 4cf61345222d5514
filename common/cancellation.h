// Cancellation: how a caller tells a seam that it no longer waits for an
// answer (the consumer went away). A seam that waits on the network (etcd)
// registers a callback for the time it waits and completes early with
// CANCELLED; a seam that completes inline ignores it. Thread-safe.
#ifndef DX_COMMON_CANCELLATION_H_
#define DX_COMMON_CANCELLATION_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace dx {

class Cancellation {
 public:
  // Runs every registered callback once, outside the lock.
  void Cancel() {
    absl::flat_hash_map<uint64_t, std::function<void()>> run;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
      run.swap(callbacks_);
    }
    for (auto& [id, f] : run) f();
  }
  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  // `f` runs once when Cancel() is called, at once if it was. Returns a
  // handle for Forget(), which the seam calls when it stops waiting, so
  // that `f` never outlives what it refers to.
  uint64_t OnCancel(std::function<void()> f) {
    {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        callbacks_.emplace(++last_id_, std::move(f));
        return last_id_;
      }
    }
    f();
    return 0;
  }
  void Forget(uint64_t handle) {
    absl::MutexLock lock(&mu_);
    callbacks_.erase(handle);
  }

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::function<void()>> callbacks_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace dx

#endif  // DX_COMMON_CANCELLATION_H_
