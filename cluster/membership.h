// Membership: this node's entry in etcd (<prefix>nodes/<node_id>, a
// ClusterNode) on a lease it keeps alive every second, so that the entry
// goes a few seconds after the node dies; and the node's own view of
// whether etcd answers: Health() turns UNAVAILABLE when no keep-alive has
// succeeded for `max_staleness` (a lost quorum, a partition), and OK again
// by itself once one does. Members() lists the nodes that are alive.
// Thread-safe.
#ifndef DX_CLUSTER_MEMBERSHIP_H_
#define DX_CLUSTER_MEMBERSHIP_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "dx/v1/cluster.pb.h"
#include "etcd/client.h"

namespace dx::cluster {

class Membership {
 public:
  struct Options {
    std::string prefix = "/dx/";
    v1::ClusterNode self;
    absl::Duration lease_ttl = absl::Seconds(5);
    absl::Duration keepalive_every = absl::Seconds(1);
    absl::Duration max_staleness = absl::Seconds(5);
  };
  static absl::StatusOr<std::unique_ptr<Membership>> Join(etcd::Client* client,
                                                          const Clock* clock,
                                                          Options options);
  // Leaves: revokes the lease (the entry goes at once).
  ~Membership();

  // Publishes a new address for this node (e.g. the port bound once the
  // server listens, when the configuration said port 0).
  absl::Status SetAddress(const std::string& address);

  absl::Status Health() const;
  absl::StatusOr<std::vector<v1::ClusterNode>> Members() const;

 private:
  Membership(etcd::Client* client, const Clock* clock, Options options);
  absl::Status Register();
  void Loop();

  etcd::Client* const client_;
  const Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  v1::ClusterNode self_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ok_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_MEMBERSHIP_H_
