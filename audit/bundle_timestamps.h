// Checking the RFC 3161 time-stamps an export bundle carries
// (AuditBundle.timestamps; docs/AUDIT.md, "Time-stamps"), offline: each
// stamped tree head is signed by a log certificate that chains to the
// auditor's roots, is a prefix of the bundle's head (its consistency
// path), and, given the authority's roots, its token stamps
// SHA-256(head signature). Pure computation; thread-safe.
#ifndef DX_AUDIT_BUNDLE_TIMESTAMPS_H_
#define DX_AUDIT_BUNDLE_TIMESTAMPS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

struct TimestampCheck {
  uint64_t tree_size = 0;
  absl::Time time;             // the token's genTime (as checked, or stored)
  bool token_checked = false;  // false: no authority roots were given
  std::string problem;         // empty: it holds
};

// One check per stamp. `roots_der`: the log's roots (empty: the bundle's
// own last certificate); `tsa_roots_pem`: the authority's (empty: the
// tokens are not checked, only their heads).
std::vector<TimestampCheck> CheckBundleTimestamps(
    const v1::AuditBundle& bundle, const std::vector<std::string>& roots_der,
    absl::string_view tsa_roots_pem);

// The bytes a token stamps the SHA-256 of: the head's signature.
inline const std::string& StampedBytes(const v1::SignedTreeHead& head) {
  return head.signature();
}

}  // namespace dx::audit

#endif  // DX_AUDIT_BUNDLE_TIMESTAMPS_H_
