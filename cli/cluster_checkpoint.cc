#include "cli/cluster_checkpoint.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "cli/audit_output.h"
#include "cli/output.h"
#include "common/status_macros.h"

namespace dx::cli {

absl::Status CheckCheckpoint(const v1::CheckpointProof& p, const Flags& f,
                             std::string* signer_note) {
  const v1::SignedTreeHead& head = p.cluster_tree_head();
  if (!audit::VerifyInclusion(
          p.leaf_index(), head.tree_size(), audit::HashLeaf(p.leaf_bytes()),
          {p.path().begin(), p.path().end()}, head.root_hash())) {
    return absl::DataLossError(
        absl::StrCat("checkpoint leaf ", p.leaf_index(),
                     " does not lead to the cluster tree head's root"));
  }
  bool chain_checked = false;
  DX_ASSIGN_OR_RETURN(auto key, LogKey(head, f, &chain_checked));
  if (!audit::VerifyClusterTreeHead(head, key.get())) {
    return absl::DataLossError("the cluster tree head's signature is BAD");
  }
  *signer_note = absl::StrCat(
      "signed by ", head.node_id(), " at ",
      FormatTime(static_cast<int64_t>(head.timestamp_ms()) * 1000),
      chain_checked ? "" : " (certificate NOT checked: give --ca)");
  return absl::OkStatus();
}

void PrintAlarms(const v1::CheckpointProof& p) {
  for (const auto& a : p.alarms()) {
    std::cout << "ALARM  node " << a.node_id() << ": " << a.reason()
              << " (raised by " << a.raised_by() << " at "
              << FormatTime(a.raised_unix_micros()) << ")\n";
  }
}

}  // namespace dx::cli
