// Checking an export bundle offline (bundle.h builds them from the store):
// pure computation over the bundle's bytes and the roots an auditor
// trusts, with no database, so that verifiers (dxctl, the fuzzer) link no
// RocksDB.
#ifndef DX_AUDIT_BUNDLE_VERIFIER_H_
#define DX_AUDIT_BUNDLE_VERIFIER_H_

#include <string>
#include <vector>

#include "audit/log_verifier.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

// Checks a bundle: the tree head's certificate chains to one of
// `roots_der` (when empty: to the bundle's own last certificate, which only
// proves internal consistency), its signature, each record's leaf hash and
// inclusion proof.
VerifyReport VerifyBundle(const v1::AuditBundle& bundle,
                          const std::vector<std::string>& roots_der);

}  // namespace dx::audit

#endif  // DX_AUDIT_BUNDLE_VERIFIER_H_
