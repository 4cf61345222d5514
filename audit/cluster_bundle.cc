#include "audit/cluster_bundle.h"

#include "absl/strings/str_cat.h"
#include "audit/bundle_verifier.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"

namespace dx::audit {
namespace {

bool SameSignedHead(const v1::SignedTreeHead& a, const v1::SignedTreeHead& b) {
  return a.tree_size() == b.tree_size() && a.root_hash() == b.root_hash() &&
         a.timestamp_ms() == b.timestamp_ms() && a.signature() == b.signature();
}

}  // namespace

bool IsClusterBundle(const std::string& bytes, v1::ClusterAuditBundle* out) {
  return out->ParseFromString(bytes) && out->node_bundles_size() > 0;
}

VerifyReport VerifyClusterBundle(const v1::ClusterAuditBundle& bundle,
                                 const std::vector<std::string>& roots_der) {
  VerifyReport report;
  auto fail = [&](std::string why) {
    report.ok = false;
    report.problem = std::move(why);
    return report;
  };
  if (bundle.node_bundles_size() != bundle.checkpoints_size()) {
    return fail("the bundle does not hold one checkpoint per node bundle");
  }
  const v1::SignedTreeHead& head = bundle.checkpoints(0).cluster_tree_head();
  for (int i = 0; i < bundle.node_bundles_size(); ++i) {
    const v1::AuditBundle& nb = bundle.node_bundles(i);
    const v1::CheckpointProof& cp = bundle.checkpoints(i);
    const std::string node = nb.tree_head().node_id();
    VerifyReport r = VerifyBundle(nb, roots_der);
    if (!r.ok) return fail(absl::StrCat("node ", node, ": ", r.problem));
    report.records_checked += r.records_checked;
    report.tree_heads_checked += r.tree_heads_checked;
    v1::CheckpointLeaf leaf;
    if (!leaf.ParseFromString(cp.leaf_bytes())) {
      return fail(absl::StrCat("node ", node, ": its checkpoint leaf ",
                               cp.leaf_index(), " does not parse"));
    }
    if (leaf.node_id() != node ||
        !SameSignedHead(leaf.node_tree_head(), nb.tree_head())) {
      return fail(absl::StrCat(
          "node ", node, ": its records are proven against a tree head of ",
          nb.tree_head().tree_size(),
          " records that is not the one its "
          "checkpoint leaf ",
          cp.leaf_index(), " holds"));
    }
    if (nb.certificates().empty() ||
        certs::Sha256(nb.certificates(0)) != leaf.node_signer_cert_sha256()) {
      return fail(absl::StrCat("node ", node,
                               ": its log certificate is not the one its "
                               "checkpoint pins"));
    }
    if (cp.cluster_tree_head().SerializeAsString() !=
        head.SerializeAsString()) {
      return fail(absl::StrCat("node ", node,
                               ": its checkpoint is proven against another "
                               "cluster tree head than the others'"));
    }
    if (!VerifyInclusion(
            cp.leaf_index(), head.tree_size(), HashLeaf(cp.leaf_bytes()),
            {cp.path().begin(), cp.path().end()}, head.root_hash())) {
      return fail(absl::StrCat("node ", node, ": its checkpoint leaf ",
                               cp.leaf_index(),
                               " does not lead to the cluster tree head's "
                               "root"));
    }
  }
  std::vector<std::string> issuers(bundle.certificates().begin(),
                                   bundle.certificates().end());
  std::vector<std::string> roots = roots_der;
  if (roots.empty() && !issuers.empty()) roots.push_back(issuers.back());
  auto key =
      certs::VerifyChainAt(head.signer_certificate(), issuers, roots,
                           static_cast<int64_t>(head.timestamp_ms() / 1000));
  if (!key.ok()) {
    return fail(absl::StrCat("the cluster tree head's certificate: ",
                             key.status().message()));
  }
  if (!VerifyClusterTreeHead(head, key->get())) {
    return fail("the cluster tree head's signature does not verify");
  }
  ++report.tree_heads_checked;
  return report;
}

}  // namespace dx::audit
