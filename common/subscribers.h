// Subscribers: the callbacks subscribed to one source of change notices,
// each held by a WatchHandle (common/watch_handle.h), for sources that
// call their subscribers on their own threads (the registry sources).
//
// Notify() calls each callback on the calling thread, outside any lock of
// this class, so that a callback may subscribe, drop a handle, or take its
// own locks. A handle's destructor removes its callback and waits for a
// call of it in progress on another thread; from inside that very call it
// returns at once (the call finishes; no other follows). A handle may be
// dropped after the Subscribers are gone (they share their state).
// Thread-safe.
#ifndef DX_COMMON_SUBSCRIBERS_H_
#define DX_COMMON_SUBSCRIBERS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/watch_handle.h"

namespace dx {

template <typename... Args>
class Subscribers {
 public:
  using Callback = std::function<void(Args...)>;

  Subscribers() : state_(std::make_shared<State>()) {}
  Subscribers(const Subscribers&) = delete;
  Subscribers& operator=(const Subscribers&) = delete;

  // `callback` runs at every Notify() until the handle is destroyed.
  [[nodiscard]] std::unique_ptr<WatchHandle> Add(Callback callback) {
    absl::MutexLock lock(&state_->mu);
    const uint64_t id = ++state_->last_id;
    state_->callbacks.emplace(id, std::move(callback));
    return std::unique_ptr<WatchHandle>(new Handle(state_, id));
  }

  // Calls every callback subscribed now, in the order they subscribed, on
  // this thread; one dropped meanwhile is skipped.
  void Notify(const Args&... args) {
    std::vector<std::pair<uint64_t, Callback>> now;
    {
      absl::MutexLock lock(&state_->mu);
      now.assign(state_->callbacks.begin(), state_->callbacks.end());
    }
    const std::thread::id self = std::this_thread::get_id();
    for (const auto& [id, callback] : now) {
      {
        absl::MutexLock lock(&state_->mu);
        if (state_->callbacks.count(id) == 0) continue;
        state_->running.emplace(id, self);
      }
      callback(args...);
      absl::MutexLock lock(&state_->mu);
      auto range = state_->running.equal_range(id);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == self) {
          state_->running.erase(it);
          break;
        }
      }
    }
  }

  size_t size() const {
    absl::MutexLock lock(&state_->mu);
    return state_->callbacks.size();
  }

 private:
  struct State {
    mutable absl::Mutex mu;
    uint64_t last_id ABSL_GUARDED_BY(mu) = 0;
    std::map<uint64_t, Callback> callbacks ABSL_GUARDED_BY(mu);
    // The calls in progress: which callback, on which thread.
    std::multimap<uint64_t, std::thread::id> running ABSL_GUARDED_BY(mu);
  };

  class Handle final : public WatchHandle {
   public:
    Handle(std::shared_ptr<State> state, uint64_t id)
        : state_(std::move(state)), id_(id) {}
    ~Handle() override {
      const std::thread::id self = std::this_thread::get_id();
      State* s = state_.get();
      absl::MutexLock lock(&s->mu);
      s->callbacks.erase(id_);
      // Calls on other threads finish first; one on this thread is the
      // caller of this destructor, and waiting for it would never end.
      auto only_here = [s, self,
                        id = id_]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
        auto range = s->running.equal_range(id);
        return std::all_of(range.first, range.second,
                           [self](const auto& r) { return r.second == self; });
      };
      s->mu.Await(absl::Condition(&only_here));
    }

   private:
    const std::shared_ptr<State> state_;
    const uint64_t id_;
  };

  const std::shared_ptr<State> state_;
};

}  // namespace dx

#endif  // DX_COMMON_SUBSCRIBERS_H_
