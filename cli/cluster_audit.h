// dxctl audit over a cluster (cli/cluster_nodes.h finds the nodes; one
// file per command): query, subject-report, get, proof and verify
// ask every node and answer as one gateway. The nodes are the addresses of
// --gateway a,b,c, or with --cluster every node the given one knows of
// through etcd (alive or not: each node that ever published its tree
// head). A node that cannot be asked is named, and the command exits 1
// unless --allow-partial: never silently left out.
//   query           merged by time, paged with --cursor (stable: records
//                   are never reordered or shown twice across pages)
//   subject-report  every node's accesses to one person, by time
//   get, proof      one node's record (--node ID); proof also proves that
//                   node's tree head into the cluster checkpoint log
//   verify          every node's log, and its newest checkpoint against it
//   export          one ClusterAuditBundle: each node's records (of a time
//                   range) proven against its newest checkpointed tree
//                   head, with the checkpoints' proofs into one cluster
//                   tree head
#ifndef DX_CLI_CLUSTER_AUDIT_H_
#define DX_CLI_CLUSTER_AUDIT_H_

#include <string>

#include "cli/flags.h"

namespace dx::cli {

// --cluster, or several addresses in --gateway.
bool IsClusterAudit(const Flags& flags);

int RunClusterQuery(const Flags& flags);
int RunClusterSubjectReport(const Flags& flags);
int RunClusterRecordRecipients(const Flags& flags);
int RunClusterGet(const Flags& flags);
int RunClusterProof(const Flags& flags);
int RunClusterVerify(const Flags& flags);
int RunClusterExport(const Flags& flags);

}  // namespace dx::cli

#endif  // DX_CLI_CLUSTER_AUDIT_H_
