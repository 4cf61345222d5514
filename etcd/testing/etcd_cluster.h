// EtcdCluster: a real etcd cluster (Debian's /usr/bin/etcd) started on
// loopback for a test: N members on free ports in a temporary folder,
// stopped and removed when the object goes, whatever happened. Members can
// be killed, frozen (SIGSTOP) and resumed, as failures look to the others.
#ifndef DX_ETCD_TESTING_ETCD_CLUSTER_H_
#define DX_ETCD_TESTING_ETCD_CLUSTER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dx::etcd::testing {

class EtcdCluster {
 public:
  // Starts `members` members and waits until the cluster has a leader.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(int members);
  ~EtcdCluster();

  // host:port of each member's client URL.
  std::vector<std::string> endpoints() const;
  void Kill(int member);    // SIGKILL
  void Freeze(int member);  // SIGSTOP
  void Resume(int member);  // SIGCONT
  // Starts a killed member again on its data dir.
  absl::Status Restart(int member);

 private:
  struct Member {
    std::string name;
    std::string dir;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = 0;
  };
  EtcdCluster() = default;
  absl::Status Spawn(Member& m, bool fresh);
  absl::Status WaitHealthy();
  std::string InitialCluster() const;

  std::string root_;
  std::vector<Member> members_;
};

}  // namespace dx::etcd::testing

#endif  // DX_ETCD_TESTING_ETCD_CLUSTER_H_
