// dxctl audit export over a cluster: one ClusterAuditBundle, each node's
// records (of a time range) proven against its newest checkpointed tree
// head, with the checkpoints' proofs into one cluster tree head.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "cli/audit_output.h"
#include "cli/cluster_audit.h"
#include "cli/cluster_checkpoint.h"
#include "cli/cluster_nodes.h"
#include "cli/output.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("audit", s); }

// The first record of `node` at or after `micros` (0: the start), or
// `limit` when there is none before it.
absl::StatusOr<uint64_t> FirstAtOrAfter(AuditSource& src, int64_t micros,
                                        uint64_t limit) {
  if (micros == 0) return 0;
  v1::AuditQuery q;
  q.set_from_unix_micros(micros);
  q.set_page_size(1);
  uint64_t first = limit;
  std::string token;
  DX_RETURN_IF_ERROR(src.QueryPage(
      q,
      [&](const v1::StoredRecord& r) {
        first = std::min(first, r.sequence_number());
        return false;
      },
      &token));
  return first;
}

}  // namespace

int RunClusterExport(const Flags& f) {
  if (!f.Has("out")) return Fail(absl::InvalidArgumentError("give --out FILE"));
  auto since = ParseWhen(f.Get("since"), "since");
  auto until = ParseWhen(f.Get("until"), "until");
  if (!since.ok()) return Fail(since.status());
  if (!until.ok()) return Fail(until.status());
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<const ClusterNode*> missed;
  std::vector<ClusterNode*> asked;
  for (ClusterNode& n : *nodes) {
    if (n.problem.ok()) {
      asked.push_back(&n);
    } else {
      missed.push_back(&n);
    }
  }
  if (asked.empty()) {
    (void)ReportMissed(missed, f);
    return kExitFailed;
  }
  // Every node's newest checkpoint, all against one cluster tree head (the
  // checkpointer may append between two reads: read again).
  std::vector<v1::CheckpointProof> checkpoints;
  for (int attempt = 0; attempt < 5; ++attempt) {
    checkpoints.clear();
    for (ClusterNode* n : asked) {
      auto cp = n->source->Checkpoint(n->id, 0);
      if (!cp.ok()) {
        return Fail(absl::Status(
            cp.status().code(),
            absl::StrCat("node ", NodeName(*n), ": ", cp.status().message())));
      }
      checkpoints.push_back(*std::move(cp));
    }
    bool same = true;
    for (const auto& cp : checkpoints) {
      same = same && cp.cluster_tree_head().SerializeAsString() ==
                         checkpoints[0].cluster_tree_head().SerializeAsString();
    }
    if (same) break;
    if (attempt == 4) {
      return Fail(absl::UnavailableError(
          "the cluster checkpoint log kept moving; try again"));
    }
  }
  v1::ClusterAuditBundle bundle;
  bundle.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  bundle.set_from_unix_micros(*since);
  bundle.set_to_unix_micros(*until);
  uint64_t records = 0;
  for (size_t i = 0; i < asked.size(); ++i) {
    AuditSource& src = *asked[i]->source;
    const uint64_t size = checkpoints[i].leaf().node_tree_head().tree_size();
    auto from = FirstAtOrAfter(src, *since, size);
    auto to = *until == 0 ? absl::StatusOr<uint64_t>(size)
                          : FirstAtOrAfter(src, *until, size);
    if (!from.ok()) return Fail(from.status());
    if (!to.ok()) return Fail(to.status());
    const uint64_t end = std::min(*to, size);
    auto nb = src.Export(std::min(*from, end), end, size);
    if (!nb.ok()) {
      // E.g. a node whose log was reset: it cannot prove the tree the
      // cluster checkpointed (its alarm says why).
      asked[i]->problem = absl::Status(
          nb.status().code(),
          absl::StrCat("cannot export against its checkpointed tree of ", size,
                       " records: ", nb.status().message()));
      missed.push_back(asked[i]);
      continue;
    }
    // A log reset since may even hold a tree head of that size, of other
    // records: only the checkpointed one proves anything.
    const v1::SignedTreeHead& held = checkpoints[i].leaf().node_tree_head();
    if (nb->tree_head().root_hash() != held.root_hash() ||
        nb->tree_head().signature() != held.signature()) {
      asked[i]->problem = absl::DataLossError(absl::StrCat(
          "its tree head of ", size,
          " records is not the one the cluster checkpointed: its log was "
          "reset or rewritten (see its alarm)"));
      missed.push_back(asked[i]);
      continue;
    }
    if (bundle.certificates().empty()) {
      for (int c = 1; c < nb->certificates_size(); ++c) {
        bundle.add_certificates(nb->certificates(c));
      }
    }
    records += nb->entries_size();
    std::cout << asked[i]->id << ": " << nb->entries_size()
              << " records, up to its checkpointed tree of " << size
              << " (cluster leaf " << checkpoints[i].leaf_index() << ")\n";
    *bundle.add_node_bundles() = *std::move(nb);
    *bundle.add_checkpoints() = std::move(checkpoints[i]);
  }
  if (bundle.node_bundles_size() == 0) {
    (void)ReportMissed(missed, f);
    return kExitFailed;
  }
  absl::Status s =
      WriteFileAtomically(f.Get("out"), bundle.SerializeAsString());
  if (!s.ok()) return Fail(s);
  std::cout << "exported " << records << " records of "
            << bundle.node_bundles_size() << " node(s) to " << f.Get("out")
            << ", proven to the cluster tree head of "
            << bundle.checkpoints(0).cluster_tree_head().tree_size()
            << " checkpoints; records after a node's newest checkpoint come "
               "in the next export\n";
  return ReportMissed(missed, f);
}

}  // namespace dx::cli
