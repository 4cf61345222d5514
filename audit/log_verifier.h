// LogVerifier: recomputes the audit log's Merkle tree from the records
// themselves and checks it against the signed tree heads, naming the first
// record or tree head that does not hold. It trusts nothing the server
// computed except the prefix summary it starts from (and even that is
// checked by the first signed root after it). Not thread-safe.
#ifndef DX_AUDIT_LOG_VERIFIER_H_
#define DX_AUDIT_LOG_VERIFIER_H_

#include <openssl/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "audit/merkle.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

struct VerifyReport {
  bool ok = true;
  uint64_t records_checked = 0;
  uint64_t tree_heads_checked = 0;
  // The first problem found, e.g. "record 41: ...". Empty when ok.
  std::string problem;
  // The first bad record, or -1.
  int64_t bad_sequence = -1;
  // Records after the last signed tree head (their roots are not signed yet).
  uint64_t uncovered_records = 0;
};

class LogVerifier {
 public:
  // Verifies from leaf `start`, given the tree's summary at that size (empty
  // when start is 0) and every tree head (any order) with the key that
  // signed them.
  LogVerifier(CompactRange start, std::vector<v1::SignedTreeHead> tree_heads,
              EVP_PKEY* log_key);
  // The key of each tree head found by `key_for` (null: its certificate is
  // refused), so that heads signed before and after a rotation of the log
  // key each verify with their own certificate.
  using KeyFor = std::function<EVP_PKEY*(const v1::SignedTreeHead&)>;
  LogVerifier(CompactRange start, std::vector<v1::SignedTreeHead> tree_heads,
              KeyFor key_for);

  // Feeds the next record; false once a problem was found.
  bool Add(const v1::StoredRecord& record);
  // After the last record.
  VerifyReport Finish();

 private:
  void Fail(int64_t seq, std::string problem);
  bool CheckHeadsUpTo(uint64_t size);

  CompactRange range_;
  std::vector<v1::SignedTreeHead> heads_;  // by size, ascending
  size_t next_head_ = 0;
  bool VerifyHead(const v1::SignedTreeHead& h);

  KeyFor key_for_;
  uint64_t last_checked_size_;
  VerifyReport report_;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_LOG_VERIFIER_H_
