// The audit log's Merkle tree, as RFC 6962 / RFC 9162 define it:
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   MTH(D[n])  = for n > 1, k = the largest power of two below n:
//                SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
// Proof generation works on any SubtreeSource (stored perfect subtrees);
// verification is the RFC 9162 section 2.1.3.2 / 2.1.4.2 algorithms, with no
// state. Pure functions; thread-safe.
#ifndef DX_AUDIT_MERKLE_H_
#define DX_AUDIT_MERKLE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dx::audit {

std::string HashLeaf(const std::string& leaf_bytes);
std::string HashChildren(const std::string& left, const std::string& right);
// SHA-256 of the empty string: the root of the empty tree.
std::string EmptyRoot();

// The hash of the perfect subtree of 2^level leaves starting at leaf
// index << level. Only asked for subtrees that lie within the tree.
using PerfectSubtreeSource =
    std::function<absl::StatusOr<std::string>(int level, uint64_t index)>;

// MTH(D[begin:end]) from perfect subtrees; O(log n) look-ups.
absl::StatusOr<std::string> SubtreeHash(const PerfectSubtreeSource& source,
                                        uint64_t begin, uint64_t end);

// RFC 6962 PATH(index, D[0:tree_size]).
absl::StatusOr<std::vector<std::string>> InclusionProof(
    const PerfectSubtreeSource& source, uint64_t index, uint64_t tree_size);

// RFC 6962 PROOF(first, D[0:second]); empty when first == second or 0.
absl::StatusOr<std::vector<std::string>> ConsistencyProof(
    const PerfectSubtreeSource& source, uint64_t first, uint64_t second);

// RFC 9162 2.1.3.2: true when `path` proves `leaf_hash` is leaf `index` of
// the tree of `tree_size` leaves whose root is `root`.
bool VerifyInclusion(uint64_t index, uint64_t tree_size,
                     const std::string& leaf_hash,
                     const std::vector<std::string>& path,
                     const std::string& root);

// RFC 9162 2.1.4.2: true when `path` proves the tree of `first` leaves with
// root `first_root` is a prefix of the tree of `second` leaves with root
// `second_root`.
bool VerifyConsistency(uint64_t first, uint64_t second,
                       const std::string& first_root,
                       const std::string& second_root,
                       const std::vector<std::string>& path);

// Builds roots incrementally: keeps the right edge (one perfect subtree per
// set bit of the size), so each append is amortised O(1) and Root() is
// O(log n). Not thread-safe.
class CompactRange {
 public:
  // Appends a leaf hash. Calls `on_node(level, index, hash)` for the new
  // leaf node and every perfect subtree it completes (to store them).
  void Append(const std::string& leaf_hash,
              const std::function<void(int, uint64_t, const std::string&)>&
                  on_node = nullptr);
  std::string Root() const;
  uint64_t size() const { return size_; }
  // Restores the state of a tree of `size` leaves from its perfect subtrees.
  static absl::StatusOr<CompactRange> FromSource(
      const PerfectSubtreeSource& source, uint64_t size);
  // Same, from the perfect subtree hashes themselves (largest first, one per
  // set bit of `size`).
  static absl::StatusOr<CompactRange> FromHashes(
      uint64_t size, std::vector<std::string> hashes);

 private:
  uint64_t size_ = 0;
  // Perfect subtree hashes on the right edge, largest (leftmost) first.
  std::vector<std::string> hashes_;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_MERKLE_H_
