#include "audit/bundle_verifier.h"

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"

namespace dx::audit {

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
