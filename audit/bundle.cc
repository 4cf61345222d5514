#include "audit/bundle.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "common/status_macros.h"

namespace dx::audit {

absl::StatusOr<v1::AuditBundle> BuildBundle(
    const AuditReader& reader, uint64_t from, uint64_t to,
    const std::vector<std::string>& chain_der, const std::string& node_id,
    uint64_t tree_size) {
  DX_ASSIGN_OR_RETURN(v1::SignedTreeHead sth, reader.TreeHead(tree_size));
  if (to == 0) to = sth.tree_size();
  if (to > sth.tree_size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("records up to ", to,
                     " are not all covered by a signed tree head "
                     "yet (latest size ",
                     sth.tree_size(), "); retry in a second"));
  }
  if (from > to) return absl::InvalidArgumentError("from is after to");
  v1::AuditBundle bundle;
  bundle.set_node_id(node_id);
  bundle.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  bundle.add_certificates(sth.signer_certificate());
  for (const auto& der : chain_der) bundle.add_certificates(der);
  DX_RETURN_IF_ERROR(
      reader.ReadRange(from, to - from, [&](v1::StoredRecord&& rec) {
        if (rec.sequence_number() >= to) return false;
        auto path = InclusionProof(reader.Source(), rec.sequence_number(),
                                   sth.tree_size());
        if (!path.ok()) return false;
        auto* entry = bundle.add_entries();
        for (auto& p : *path) entry->add_inclusion_path(std::move(p));
        *entry->mutable_record() = std::move(rec);
        return true;
      }));
  // Time evidence for the records: a stamped head tied to this one.
  DX_ASSIGN_OR_RETURN(auto stamps,
                      reader.TimestampsForBundle(to, sth.tree_size()));
  for (v1::TreeHeadTimestamp& stamp : stamps) {
    DX_ASSIGN_OR_RETURN(
        auto path,
        ConsistencyProof(reader.Source(), stamp.tree_head().tree_size(),
                         sth.tree_size()));
    for (auto& p : path) stamp.add_consistency_path(std::move(p));
    *bundle.add_timestamps() = std::move(stamp);
  }
  *bundle.mutable_tree_head() = std::move(sth);
  return bundle;
}

}  // namespace dx::audit
