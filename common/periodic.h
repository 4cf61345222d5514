// Periodic: runs a function every `every` on a thread of its own until
// destroyed (the destructor waits for a run in progress). For background
// duties that talk to other servers (publishing, checkpointing), so that
// they never run on gRPC's threads.
#ifndef DX_COMMON_PERIODIC_H_
#define DX_COMMON_PERIODIC_H_

#include <pthread.h>

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dx {

class Periodic {
 public:
  // `name` (at most 15 characters) names the thread for top -H and /proc.
  Periodic(absl::Duration every, std::function<void()> run,
           const char* name = "dx-periodic")
      : every_(every), run_(std::move(run)), thread_([this, name] {
          pthread_setname_np(pthread_self(), name);
          Loop();
        }) {}
  ~Periodic() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void Loop() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_;
        };
        if (mu_.AwaitWithTimeout(absl::Condition(&stop), every_)) return;
      }
      run_();
    }
  }

  const absl::Duration every_;
  const std::function<void()> run_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is set
};

}  // namespace dx

#endif  // DX_COMMON_PERIODIC_H_
