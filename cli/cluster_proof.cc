// dxctl audit get and proof over a cluster: one node's record (--node ID);
// proof also proves that node's tree head into the cluster checkpoint log.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "cli/audit_commands.h"
#include "cli/audit_output.h"
#include "cli/cluster_audit.h"
#include "cli/cluster_checkpoint.h"
#include "cli/cluster_nodes.h"
#include "cli/output.h"
#include "common/bytes.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("audit", s); }

}  // namespace

int RunClusterGet(const Flags& f) {
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  auto n = OneNode(*nodes, f);
  if (!n.ok()) return Fail(n.status());
  return RunNodeGet(*(*n)->source, f);
}

int RunClusterProof(const Flags& f) {
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  auto n = OneNode(*nodes, f);
  if (!n.ok()) return Fail(n.status());
  AuditSource& src = *(*n)->source;
  auto seq = f.PositionalUint(0, "the record's sequence number");
  if (!seq.ok()) return Fail(seq.status());
  // The first checkpoint of the node's tree that holds the record, and the
  // record's proof in exactly that tree.
  auto checkpoint = src.Checkpoint((*n)->id, *seq + 1);
  if (!checkpoint.ok()) return Fail(checkpoint.status());
  const v1::SignedTreeHead& node_head = checkpoint->leaf().node_tree_head();
  auto inclusion = src.Inclusion(*seq, node_head.tree_size());
  if (!inclusion.ok()) return Fail(inclusion.status());
  if (f.Has("json")) {
    std::cout << Json(*inclusion) << "\n" << Json(*checkpoint) << "\n";
  }
  bool chain_checked = false;
  auto node_key = LogKey(inclusion->tree_head(), f, &chain_checked);
  if (!node_key.ok()) return Fail(node_key.status());
  std::vector<std::string> problems;
  if (!audit::VerifyInclusion(
          inclusion->leaf_index(), inclusion->tree_size(),
          inclusion->leaf_hash(),
          {inclusion->path().begin(), inclusion->path().end()},
          node_head.root_hash())) {
    problems.push_back("the record does not lead to the checkpointed root");
  }
  if (!audit::VerifyTreeHead(node_head, node_key->get())) {
    problems.push_back("the checkpointed node tree head's signature is BAD");
  }
  if (certs::Sha256(inclusion->tree_head().signer_certificate()) !=
      checkpoint->leaf().node_signer_cert_sha256()) {
    problems.push_back(
        "the node's certificate is not the one the checkpoint pins");
  }
  std::string signer_note;
  if (absl::Status s = CheckCheckpoint(*checkpoint, f, &signer_note); !s.ok()) {
    problems.push_back(std::string(s.message()));
  }
  if (!f.Has("json")) {
    std::cout << (problems.empty() ? "PROVEN  " : "FAILED  ") << "record "
              << (*n)->id << "#" << *seq << " (leaf "
              << HexEncode(inclusion->leaf_hash()).substr(0, 16)
              << "...) is in " << (*n)->id << "'s tree of "
              << node_head.tree_size() << " records\n"
              << "  that tree head is leaf " << checkpoint->leaf_index()
              << " of the cluster checkpoint log of "
              << checkpoint->cluster_tree_head().tree_size() << ", "
              << signer_note << "\n";
    for (const auto& p : problems) std::cout << "  problem: " << p << "\n";
    PrintAlarms(*checkpoint);
  }
  return problems.empty() && checkpoint->alarms().empty() ? 0
                                                          : kExitNotVerified;
}

}  // namespace dx::cli
