// The nodes a cluster audit command asks: the addresses of --gateway a,b,c,
// or with --cluster every node the given one knows of through etcd (alive
// or not: each node that ever published its tree head), each with its own
// channel and AuditSource, or the reason it could not be asked. A node left
// out is named, and the command fails unless --allow-partial.
#ifndef DX_CLI_CLUSTER_NODES_H_
#define DX_CLI_CLUSTER_NODES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/audit_source.h"
#include "cli/flags.h"

namespace dx::cli {

struct ClusterNode {
  std::string id;  // empty when it could not be asked who it is
  std::string address;
  std::unique_ptr<AuditSource> source;
  absl::Status problem;  // why it could not be asked
};

// Every node to ask, each asked at once (a dead one costs its own timeout,
// not the sum of all).
absl::StatusOr<std::vector<ClusterNode>> ClusterNodes(const Flags& flags);

// "n2 (127.0.0.1:7002)", or the address alone.
std::string NodeName(const ClusterNode& node);

// The node --node names, ready to ask.
absl::StatusOr<ClusterNode*> OneNode(std::vector<ClusterNode>& nodes,
                                     const Flags& flags);

// Names every node left out; the exit code the command then ends with
// (0 when none was, or --allow-partial).
int ReportMissed(const std::vector<const ClusterNode*>& missed,
                 const Flags& flags);

}  // namespace dx::cli

#endif  // DX_CLI_CLUSTER_NODES_H_
