// dxctl audit verify over a cluster: every node's log, and its newest
// checkpoint in the cluster log against it.
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "cli/audit_commands.h"
#include "cli/audit_output.h"
#include "cli/cluster_audit.h"
#include "cli/cluster_checkpoint.h"
#include "cli/cluster_nodes.h"
#include "cli/output.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("audit", s); }

}  // namespace

int RunClusterVerify(const Flags& f) {
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<const ClusterNode*> missed;
  bool all_ok = true;
  v1::CheckpointProof alarms;
  for (ClusterNode& n : *nodes) {
    if (!n.problem.ok()) {
      missed.push_back(&n);
      continue;
    }
    std::cout << "== " << NodeName(n) << "\n";
    const int rc = RunNodeVerify(*n.source, f);
    if (rc != 0) all_ok = false;
    // Its newest checkpoint must be a prefix of the log just verified.
    auto checkpoint = n.source->Checkpoint(n.id, 0);
    if (absl::IsNotFound(checkpoint.status())) {
      std::cout << "NOT CHECKPOINTED  " << n.id
                << " has no tree head in the cluster log yet\n";
      continue;
    }
    if (!checkpoint.ok()) {
      n.problem = checkpoint.status();
      missed.push_back(&n);
      continue;
    }
    for (const auto& a : checkpoint->alarms()) *alarms.add_alarms() = a;
    const v1::SignedTreeHead& cp = checkpoint->leaf().node_tree_head();
    auto consistency = n.source->Consistency(cp.tree_size(), 0);
    std::string signer_note;
    absl::Status s = CheckCheckpoint(*checkpoint, f, &signer_note);
    if (s.ok() && !consistency.ok()) s = consistency.status();
    if (s.ok() &&
        !audit::VerifyConsistency(
            cp.tree_size(), consistency->second_size(), cp.root_hash(),
            consistency->second_tree_head().root_hash(),
            {consistency->path().begin(), consistency->path().end()})) {
      s = absl::DataLossError(
          absl::StrCat("its log of ", consistency->second_size(),
                       " records does not extend the tree of ", cp.tree_size(),
                       " records the cluster checkpointed"));
    }
    if (s.ok()) {
      std::cout << "CHECKPOINTED  " << n.id << "'s tree of " << cp.tree_size()
                << " records (cluster leaf " << checkpoint->leaf_index()
                << " of " << checkpoint->cluster_tree_head().tree_size() << ", "
                << signer_note << ") is a prefix of its log\n";
    } else {
      std::cout << "FAILED  " << n.id << ": " << s.message() << "\n";
      all_ok = false;
    }
  }
  // One alarm list for the cluster (every node sees the same).
  std::map<std::string, v1::CheckpointAlarm> unique;
  for (const auto& a : alarms.alarms()) unique[a.node_id()] = a;
  v1::CheckpointProof shown;
  for (const auto& [id, a] : unique) *shown.add_alarms() = a;
  PrintAlarms(shown);
  const int partial = ReportMissed(missed, f);
  if (!all_ok || !unique.empty()) return kExitNotVerified;
  return partial;
}

}  // namespace dx::cli
