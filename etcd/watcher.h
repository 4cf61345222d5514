// Watcher: a watch on a key range that outlives member failures. A thread
// of its own reads the watch stream; when the stream breaks (the member
// died, froze or lost the quorum) it opens another on the next member,
// from the revision after the last one it delivered, so no event is lost
// or repeated. When etcd has compacted away revisions it still needs, it
// calls on_compacted and stops: its owner reads the state afresh and
// watches again from there. Progress notices (on_progress) confirm that
// nothing newer exists as of a revision. Thread-safe; callbacks run on the
// watcher's thread, one at a time.
#ifndef DX_ETCD_WATCHER_H_
#define DX_ETCD_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "etcd/client.h"

namespace dx::etcd {

class Watcher {
 public:
  struct Callbacks {
    // The events of one revision or more, in order.
    std::function<void(const etcdserverpb::WatchResponse&)> on_events;
    // Nothing after `revision` exists (an empty response, a progress notice).
    std::function<void(int64_t revision)> on_progress;
    // Revisions up to `compact_revision` are gone; the watcher has stopped.
    std::function<void(int64_t compact_revision)> on_compacted;
    // The stream broke and is being opened again (for logs and health).
    std::function<void(const absl::Status&)> on_error;
  };

  // Watches [key, range_end) (range_end empty: the key alone) from
  // `start_revision` (0: from now).
  Watcher(Client* client, std::string key, std::string range_end,
          int64_t start_revision, Callbacks callbacks);
  // Stops; no callback runs after it returns.
  ~Watcher();

 private:
  void Loop();
  bool stopping() const;

  Client* const client_;
  const std::string key_;
  const std::string range_end_;
  const Callbacks callbacks_;
  int64_t next_revision_;  // watcher thread only

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace dx::etcd

#endif  // DX_ETCD_WATCHER_H_
