// Cluster bundles (dx.v1.ClusterAuditBundle): each node's records proven
// into its tree head, each tree head proven into one cluster tree head.
// Checked offline, with nothing but the bundle and the root certificate.
#ifndef DX_AUDIT_CLUSTER_BUNDLE_H_
#define DX_AUDIT_CLUSTER_BUNDLE_H_

#include <string>
#include <vector>

#include "audit/log_verifier.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

// True when `bytes` hold a cluster bundle rather than one node's.
bool IsClusterBundle(const std::string& bytes, v1::ClusterAuditBundle* out);

// Checks every node bundle (VerifyBundle), that its tree head is the one
// its checkpoint leaf holds (and pins its certificate), each leaf's path to
// the one cluster tree head, and that head's signature by a certificate
// that chains to `roots_der` (when empty: to the bundle's last issuer,
// which proves only internal consistency). `problem` names the node and
// the record or checkpoint.
VerifyReport VerifyClusterBundle(const v1::ClusterAuditBundle& bundle,
                                 const std::vector<std::string>& roots_der);

}  // namespace dx::audit

#endif  // DX_AUDIT_CLUSTER_BUNDLE_H_
