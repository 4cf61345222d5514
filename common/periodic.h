// Periodic: runs a function every `every` on a thread of its own until
// stopped (Stop() or the destructor, which wait for a run in progress). For
// background duties that talk to other servers or files (publishing,
// checkpointing, reloading), so that they never run on gRPC's threads and
// a slow one delays no other. BackgroundTasks: several named Periodics
// started and stopped together (a node's housekeeping). Thread-safe.
#ifndef DX_COMMON_PERIODIC_H_
#define DX_COMMON_PERIODIC_H_

#include <pthread.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dx {

class Periodic {
 public:
  struct Options {
    absl::Duration every = absl::Seconds(1);
    // Run once at once, then every `every` (else: first after `every`).
    bool run_at_start = false;
    // At most 15 characters: names the thread for top -H and /proc.
    std::string name = "dx-periodic";
  };
  Periodic(Options options, std::function<void()> run)
      : options_(std::move(options)), run_(std::move(run)), thread_([this] {
          pthread_setname_np(pthread_self(),
                             options_.name.substr(0, 15).c_str());
          Loop();
        }) {}
  Periodic(absl::Duration every, std::function<void()> run,
           const char* name = "dx-periodic")
      : Periodic(Options{every, false, name}, std::move(run)) {}
  ~Periodic() { Stop(); }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  // Returns once the thread is done (after the run in progress, if any); no
  // run starts after. Idempotent; not from within `run`.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    absl::MutexLock lock(&join_mu_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    bool first = true;
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_;
        };
        const absl::Duration wait = first && options_.run_at_start
                                        ? absl::ZeroDuration()
                                        : options_.every;
        first = false;
        if (stopping_ || mu_.AwaitWithTimeout(absl::Condition(&stop), wait)) {
          return;
        }
      }
      run_();
    }
  }

  const Options options_;
  const std::function<void()> run_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;  // one Stop() joins; the others wait for it
  std::thread thread_;   // last: starts once the rest is set
};

// Named duties, each on its own Periodic, stopped together.
class BackgroundTasks {
 public:
  struct Task {
    std::string name;  // at most 15 characters (the thread's name)
    absl::Duration every;
    std::function<void()> run;
    bool run_at_start = false;
  };
  BackgroundTasks() = default;
  explicit BackgroundTasks(std::vector<Task> tasks) {
    for (Task& t : tasks) Add(std::move(t));
  }
  ~BackgroundTasks() { Stop(); }
  BackgroundTasks(const BackgroundTasks&) = delete;
  BackgroundTasks& operator=(const BackgroundTasks&) = delete;

  void Add(Task task) {
    names_.push_back(task.name);
    running_.push_back(std::make_unique<Periodic>(
        Periodic::Options{task.every, task.run_at_start, std::move(task.name)},
        std::move(task.run)));
  }
  // Stops every task, in the order added; each finishes its run first.
  void Stop() {
    for (auto& p : running_) p->Stop();
  }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Periodic>> running_;
};

}  // namespace dx

#endif  // DX_COMMON_PERIODIC_H_
