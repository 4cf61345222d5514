// TreeHeadPublisher: every interval, writes this node's newest signed tree
// head to etcd (audit/heads/<node>) with a consistency proof from the tree
// the cluster checkpoint log last accepted of this node, so that the
// checkpointer can check that the log only grew (cluster/checkpointer.h).
// Publishes only when either changed. Thread-safe; stops when destroyed.
#ifndef DX_CLUSTER_TREE_HEAD_PUBLISHER_H_
#define DX_CLUSTER_TREE_HEAD_PUBLISHER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "audit/audit_reader.h"
#include "cluster/checkpoint_keys.h"
#include "common/periodic.h"
#include "etcd/client.h"

namespace dx::cluster {

class TreeHeadPublisher {
 public:
  struct Options {
    std::string prefix = "/dx/";
    std::string node_id;
    // Where other nodes and clients reach this one.
    std::string address;
    absl::Duration every = absl::Seconds(1);
  };
  // `reader` (the node's own log) and `client` must outlive it.
  static std::unique_ptr<TreeHeadPublisher> Start(
      etcd::Client* client, const audit::AuditReader* reader, Options options);

  // One round now (tests; the thread runs the same).
  absl::Status PublishOnce() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TreeHeadPublisher(etcd::Client* client, const audit::AuditReader* reader,
                    Options options)
      : client_(client),
        reader_(reader),
        options_(std::move(options)),
        keys_{options_.prefix} {}

  etcd::Client* const client_;
  const audit::AuditReader* const reader_;
  const Options options_;
  const CheckpointKeys keys_;
  absl::Mutex mu_;
  uint64_t published_size_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t published_from_ ABSL_GUARDED_BY(mu_) = 0;
  bool published_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Periodic> periodic_;  // last: stops first
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_TREE_HEAD_PUBLISHER_H_
