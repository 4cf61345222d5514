// AuditReader: everything auditors read from the log: records, searches over
// the indexes, tree heads, inclusion and consistency proofs. Works on the
// live StateDb of a running gateway or on a read-only one (dxctl --data-dir).
// Never modifies anything. Thread-safe.
#ifndef DX_AUDIT_AUDIT_READER_H_
#define DX_AUDIT_AUDIT_READER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "audit/merkle.h"
#include "audit/state_db.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

class AuditReader {
 public:
  // What a query matches; empty fields match anything. Times are
  // microseconds since the epoch, [from, to), 0 = open.
  struct Filter {
    int64_t from_micros = 0;
    int64_t to_micros = 0;
    std::string consumer_agency;
    // When not empty: the record's consumer is any of these (a lineage of
    // succeeded agencies); consumer_agency is then left empty.
    std::vector<std::string> consumer_any;
    std::string provider_agency;
    std::string dataset_id;
    std::string subject_hmac;
    std::string request_id;
    v1::Decision decision = v1::DECISION_UNSPECIFIED;
  };
  struct Page {
    std::vector<v1::StoredRecord> records;
    // Empty when nothing more can match.
    std::string next_page_token;
  };

  explicit AuditReader(StateDb* db) : db_(db) {}

  // Number of leaves in the tree (records ever appended, pruned included).
  absl::StatusOr<uint64_t> TreeSize() const;
  // NOT_FOUND when the record was never written or was pruned.
  absl::StatusOr<v1::StoredRecord> Get(uint64_t seq) const;
  // Records from `from` in order, at most `limit` (0: all); stops early when
  // `emit` returns false.
  absl::Status ReadRange(
      uint64_t from, uint64_t limit,
      const std::function<bool(v1::StoredRecord&&)>& emit) const;
  // One page of matching records, oldest first, through the most selective
  // index for the filter.
  absl::StatusOr<Page> Query(const Filter& filter, size_t page_size,
                             const std::string& page_token) const;

  // The tree head of exactly `size` leaves (0: the latest).
  absl::StatusOr<v1::SignedTreeHead> TreeHead(uint64_t size) const;
  absl::StatusOr<std::vector<v1::SignedTreeHead>> ListTreeHeads(
      uint64_t from_size, size_t limit) const;
  // Proof that record `seq` is in the tree of `tree_size` leaves (0: the
  // latest tree head's size), with that tree head.
  absl::StatusOr<v1::InclusionProof> Inclusion(uint64_t seq,
                                               uint64_t tree_size) const;
  // The RFC 6962 consistency path from the tree of `first` leaves to the
  // tree of `second` (at most the log's size), whether or not tree heads
  // were signed at those sizes: for a witness, which checks it against the
  // root it holds. A log whose records were replaced yields a path that
  // does not verify there, and the witness says so.
  absl::StatusOr<std::vector<std::string>> ConsistencyPath(
      uint64_t first, uint64_t second) const;
  absl::StatusOr<v1::ConsistencyProof> Consistency(uint64_t first,
                                                   uint64_t second) const;
  // The RFC 3161 stamps a bundle of records below `to`, proven against the
  // head of `head_size`, carries (audit/timestamps.h).
  absl::StatusOr<std::vector<v1::TreeHeadTimestamp>> TimestampsForBundle(
      uint64_t to, uint64_t head_size) const;
  // The perfect subtrees summarising the first `size` leaves.
  absl::StatusOr<std::vector<std::string>> CompactRangeHashes(
      uint64_t size) const;

  PerfectSubtreeSource Source() const;

 private:
  // Records and their leaves, in one batched read; nullopt where absent.
  absl::StatusOr<std::vector<std::optional<v1::StoredRecord>>> GetMany(
      const std::vector<uint64_t>& seqs) const;

  StateDb* const db_;
};

// Whether `record` matches `filter` (all but the index choice).
bool Matches(const AuditReader::Filter& filter, const v1::AuditRecord& record);

}  // namespace dx::audit

#endif  // DX_AUDIT_AUDIT_READER_H_
