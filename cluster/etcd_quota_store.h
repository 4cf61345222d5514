// EtcdQuotaStore: quota counters shared by the nodes of a cluster, after
// Trillian's etcd quota manager: each bucket's used tokens are a number in
// etcd, and a node takes tokens from it in chunks (a compare-and-swap
// transaction), then spends them locally without a round trip. So:
//   - the cluster never admits more than a bucket's capacity: every token
//     spent was first taken from etcd (over-admission: none);
//   - a node may hold up to one chunk it has not spent while another node
//     is refused: under-admission is at most (nodes x chunk) per window;
//   - counters survive restarts (a node's unspent chunk is lost with it).
// A take gets as many tokens as are left up to its most (a reservation
// of max_records against a daily quota), so a node asks etcd for the most
// a take wants or a chunk, whichever is more. A take the local chunk covers
// completes inline, and so does a refusal once etcd's counter is full; one
// that needs etcd completes on the store's thread, never blocking the
// caller's. Keys live
// on shared leases until their window is over. Thread-safe.
#ifndef DX_CLUSTER_ETCD_QUOTA_STORE_H_
#define DX_CLUSTER_ETCD_QUOTA_STORE_H_

#include <deque>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "cluster/lease_cache.h"
#include "etcd/client.h"
#include "policy/quota_store.h"

namespace dx::cluster {

class EtcdQuotaStore final : public policy::QuotaStore {
 public:
  struct Options {
    std::string prefix = "/dx/";
    // Tokens taken at a time, as a fraction of the capacity (at least 1).
    double chunk = 0.05;
  };
  EtcdQuotaStore(etcd::Client* client, const Clock* clock, Options options);
  ~EtcdQuotaStore() override;

  void Take(std::vector<policy::QuotaTake> takes, Cancellation* cancel,
            TakeCallback done) override;
  void PutBack(const policy::QuotaBucket& bucket, uint64_t tokens) override;

  // The chunk size for `capacity` (what a node may hold unspent).
  uint64_t ChunkFor(uint64_t capacity) const;

 private:
  struct Local {
    int64_t window = 0;
    uint64_t tokens = 0;  // taken from etcd, not yet spent
    // etcd gave less than asked: its counter is at the capacity for this
    // window (counters only grow), so no later take need ask it again.
    bool drained = false;
  };
  enum class LocalVerdict { kGranted, kRefused, kAskEtcd };
  struct Job {
    std::vector<policy::QuotaTake> takes;
    TakeCallback done;
  };
  // Takes from the local chunks alone when they settle it: each bucket
  // holds the most asked, or etcd has no more and it holds the least.
  // kAskEtcd (nothing taken) when a chunk could grow and `final` is false.
  LocalVerdict TakeLocal(const std::vector<policy::QuotaTake>& takes,
                         bool final, policy::QuotaTakeResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Local& LocalOf(const policy::QuotaBucket& bucket)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fetches from etcd what the local chunks lack, then takes (store thread).
  absl::StatusOr<policy::QuotaTakeResult> TakeWithRefill(
      const std::vector<policy::QuotaTake>& takes);
  // Moves up to `want` tokens of `bucket` from etcd to the local chunk;
  // returns how many it got.
  absl::StatusOr<uint64_t> Refill(const policy::QuotaBucket& bucket,
                                  uint64_t want);
  void WorkerLoop();
  std::string KeyOf(const policy::QuotaBucket& b) const;

  etcd::Client* const client_;
  const Options options_;
  LeaseCache minute_leases_;
  LeaseCache day_leases_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Local> local_ ABSL_GUARDED_BY(mu_);
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_ETCD_QUOTA_STORE_H_
