// WorkQueue: the HTTP server's handler threads and the requests waiting
// for one. Push never blocks: a full queue is the caller's to answer (503).
// Thread-safe; destruction stops the workers (what waits is dropped) and
// joins them.
#ifndef DX_HTTP_INTERNAL_WORK_QUEUE_H_
#define DX_HTTP_INTERNAL_WORK_QUEUE_H_

#include <algorithm>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace dx::http::internal {

class WorkQueue {
 public:
  WorkQueue(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      threads_.emplace_back([this] { Run(); });
    }
  }
  ~WorkQueue() {
    Stop();
    Join();
  }

  void Join() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  bool TryPush(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    if (stopped_ || tasks_.size() >= max_queued_) return false;
    tasks_.push_back(std::move(task));
    return true;
  }

  // Drops what waits; the workers return after their current task.
  void Stop() {
    std::deque<std::function<void()>> dropped;
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
      dropped.swap(tasks_);
    }
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](WorkQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
              return q->stopped_ || !q->tasks_.empty();
            },
            this));
        if (stopped_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  const size_t max_queued_;
  std::vector<std::thread> threads_;
};

}  // namespace dx::http::internal

#endif  // DX_HTTP_INTERNAL_WORK_QUEUE_H_
