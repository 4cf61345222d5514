// EtcdReplayStore: the cluster-wide replay guard. A request id and a nonce
// are remembered in etcd, under the consumer's name, until the request
// expires: whichever node a replay reaches, etcd says it was seen.
//
// How: the in-memory store (replay/) answers first and at once for what
// this node has seen. A request it does not know goes to etcd in one
// transaction with the others queued meanwhile (a group commit, as the
// audit log's), each an inner transaction: both keys must not exist, then
// both are put, with a value naming this attempt, on a lease shared by
// every key that expires in the same minute (cluster/lease_cache.h). A
// retried transaction that finds its own values counts as fresh. The
// exchange pipeline starts this check alongside the adapter call and
// answers only once it has committed. When etcd cannot be reached the
// check fails (UNAVAILABLE), the node forgets the keys it tried (so that
// the client's retry is not taken for a replay), and nothing is served.
// Thread-safe.
#ifndef DX_CLUSTER_ETCD_REPLAY_STORE_H_
#define DX_CLUSTER_ETCD_REPLAY_STORE_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "cluster/lease_cache.h"
#include "common/clock.h"
#include "etcd/client.h"
#include "replay/in_memory_replay_store.h"
#include "replay/replay_store.h"

namespace dx::cluster {

class EtcdReplayStore final : public replay::ReplayStore {
 public:
  struct Options {
    // Key prefix of this gateway cluster ("/dx/").
    std::string prefix = "/dx/";
    // Names this node in the values it writes.
    std::string node_id;
    // Checks per transaction at most.
    size_t max_batch = 64;
  };
  // `client` and `clock` must outlive the store.
  EtcdReplayStore(etcd::Client* client, const Clock* clock, Options options);
  ~EtcdReplayStore() override;

  void CheckAndRemember(const replay::ReplayKey& key, Cancellation* cancel,
                        Callback done) override;
  size_t size() const override { return memory_.size(); }

 private:
  struct Pending {
    replay::ReplayKey key;
    std::string id_key, nonce_key, token;
    Callback done;
  };
  void SenderLoop();
  void Send(std::vector<Pending> batch);
  std::string KeyOf(char kind, const std::string& consumer,
                    const std::string& value) const;

  etcd::Client* const client_;
  const Options options_;
  replay::InMemoryReplayStore memory_;
  LeaseCache leases_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sender_;
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_ETCD_REPLAY_STORE_H_
