// Where the cluster's audit trail lives in etcd, under the cluster prefix:
//   audit/heads/<node>         NodeTreeHead     each node's newest tree head
//   audit/accepted/<node>      AcceptedNodeHead what the cluster log holds of
//   it audit/alarms/<node>        CheckpointAlarm  a log that did not extend it
//   audit/checkpointer         node id          the elected one, on its lease
//   audit/log/leaves/<index>   CheckpointLeaf   the cluster log's leaves
//   audit/log/head             SignedTreeHead   its newest signed tree head
//   audit/log/heads/<size>     SignedTreeHead   every one it signed
// Indexes and sizes are 20 zero-padded digits, so keys sort in order.
#ifndef DX_CLUSTER_CHECKPOINT_KEYS_H_
#define DX_CLUSTER_CHECKPOINT_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dx::cluster {

struct CheckpointKeys {
  std::string prefix;  // the cluster's, e.g. "/dx/"

  std::string Heads() const { return absl::StrCat(prefix, "audit/heads/"); }
  std::string Accepted() const {
    return absl::StrCat(prefix, "audit/accepted/");
  }
  std::string Alarms() const { return absl::StrCat(prefix, "audit/alarms/"); }
  std::string Leader() const {
    return absl::StrCat(prefix, "audit/checkpointer");
  }
  std::string Leaves() const {
    return absl::StrCat(prefix, "audit/log/leaves/");
  }
  std::string Leaf(uint64_t index) const {
    return absl::StrCat(Leaves(), absl::StrFormat("%020d", index));
  }
  std::string Head() const { return absl::StrCat(prefix, "audit/log/head"); }
  std::string HeadOfSize(uint64_t size) const {
    return absl::StrCat(prefix, "audit/log/heads/",
                        absl::StrFormat("%020d", size));
  }
};

}  // namespace dx::cluster

#endif  // DX_CLUSTER_CHECKPOINT_KEYS_H_
