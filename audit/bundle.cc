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
  *bundle.mutable_tree_head() = std::move(sth);
  return bundle;
}

VerifyReport VerifyBundle(const v1::AuditBundle& bundle,
                          const std::vector<std::string>& roots_der) {
  VerifyReport report;
  auto fail = [&](int64_t seq, std::string why) {
    report.ok = false;
    report.bad_sequence = seq;
    report.problem = std::move(why);
    return report;
  };
  const v1::SignedTreeHead& sth = bundle.tree_head();
  if (bundle.certificates().empty()) {
    return fail(-1, "the bundle holds no certificate");
  }
  std::vector<std::string> intermediates(bundle.certificates().begin() + 1,
                                         bundle.certificates().end());
  std::vector<std::string> roots = roots_der;
  if (roots.empty()) roots.push_back(bundle.certificates().rbegin()[0]);
  auto key =
      certs::VerifyChainAt(bundle.certificates(0), intermediates, roots,
                           static_cast<int64_t>(sth.timestamp_ms() / 1000));
  if (!key.ok()) {
    return fail(
        -1, absl::StrCat("log signing certificate: ", key.status().message()));
  }
  if (sth.signer_certificate() != bundle.certificates(0)) {
    return fail(-1, "the tree head was signed by another certificate");
  }
  if (!VerifyTreeHead(sth, key->get())) {
    return fail(-1, "the tree head's signature does not verify");
  }
  report.tree_heads_checked = 1;
  for (const auto& entry : bundle.entries()) {
    const v1::StoredRecord& rec = entry.record();
    const std::string leaf = HashLeaf(rec.record_bytes());
    if (leaf != rec.leaf_hash()) {
      return fail(static_cast<int64_t>(rec.sequence_number()),
                  absl::StrCat("record ", rec.sequence_number(),
                               ": its bytes do not match its leaf hash"));
    }
    std::vector<std::string> path(entry.inclusion_path().begin(),
                                  entry.inclusion_path().end());
    if (!VerifyInclusion(rec.sequence_number(), sth.tree_size(), leaf, path,
                         sth.root_hash())) {
      return fail(static_cast<int64_t>(rec.sequence_number()),
                  absl::StrCat("record ", rec.sequence_number(),
                               ": its inclusion proof does not lead to the "
                               "signed root"));
    }
    ++report.records_checked;
  }
  return report;
}

}  // namespace dx::audit
