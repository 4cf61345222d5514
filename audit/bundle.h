// Export bundles: a self-contained piece of the audit log that anyone can
// verify offline: the records, an RFC 9162 inclusion proof for each against
// one signed tree head, and the certificate chain of the key that signed it.
// Built here from the store; checked by bundle_verifier.h, which needs none.
#ifndef DX_AUDIT_BUNDLE_H_
#define DX_AUDIT_BUNDLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "audit/audit_reader.h"
#include "audit/bundle_verifier.h"  // VerifyBundle, for the callers of both
#include "dx/v1/audit.pb.h"

namespace dx::audit {

// Records [from, to) (to = 0: up to the latest tree head) with proofs
// against the tree head of `tree_size` leaves (0: the latest). `chain_der`: the
// log signing certificate's issuers, up to the root. Pruned records are left
// out.
absl::StatusOr<v1::AuditBundle> BuildBundle(
    const AuditReader& reader, uint64_t from, uint64_t to,
    const std::vector<std::string>& chain_der, const std::string& node_id,
    uint64_t tree_size = 0);

}  // namespace dx::audit

#endif  // DX_AUDIT_BUNDLE_H_
