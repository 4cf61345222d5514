// Executor: where a seam runs work it must not run on the caller's thread:
// the audit log hands its receipts to one, so that signing answers never
// runs on its single writer thread, nor under its lock.
#ifndef DX_COMMON_EXECUTOR_H_
#define DX_COMMON_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace dx {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` soon, on a thread of the executor's. Never blocks on the
  // task, never runs it inline.
  virtual void Run(std::function<void()> task) = 0;
};

// Runs every task at once, on the caller's thread.
class InlineExecutor final : public Executor {
 public:
  void Run(std::function<void()> task) override { task(); }
};

// A fixed number of threads taking tasks in order from one queue. The
// destructor runs every task already queued, then joins. Thread-safe.
class ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(int threads);
  ~ThreadPoolExecutor() override;
  void Run(std::function<void()> task) override;

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace dx

#endif  // DX_COMMON_EXECUTOR_H_
