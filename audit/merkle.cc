#include "audit/merkle.h"

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "certs/crypto.h"
#include "common/status_macros.h"

namespace dx::audit {
namespace {

// Largest power of two strictly below n (n >= 2).
uint64_t SplitPoint(uint64_t n) {
  uint64_t k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

int CountTrailingZeros(uint64_t v) { return v == 0 ? 64 : __builtin_ctzll(v); }

int BitLength(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

}  // namespace

std::string HashLeaf(const std::string& leaf_bytes) {
  std::string buf;
  buf.reserve(leaf_bytes.size() + 1);
  buf.push_back('\x00');
  buf.append(leaf_bytes);
  return certs::Sha256(buf);
}

// Declared with the AuditLog seam (audit_log.h), which has no source of its
// own: a stored record's leaf is its hash in this tree.
std::string LeafHash(const std::string& record_bytes) {
  return HashLeaf(record_bytes);
}

std::string HashChildren(const std::string& left, const std::string& right) {
  std::string buf;
  buf.reserve(65);
  buf.push_back('\x01');
  buf.append(left);
  buf.append(right);
  return certs::Sha256(buf);
}

std::string EmptyRoot() { return certs::Sha256(""); }

absl::StatusOr<std::string> SubtreeHash(const PerfectSubtreeSource& source,
                                        uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if ((n & (n - 1)) == 0 && begin % n == 0) {
    return source(CountTrailingZeros(n), begin / n);
  }
  const uint64_t k = SplitPoint(n);
  DX_ASSIGN_OR_RETURN(std::string left, SubtreeHash(source, begin, begin + k));
  DX_ASSIGN_OR_RETURN(std::string right, SubtreeHash(source, begin + k, end));
  return HashChildren(left, right);
}

namespace {

absl::Status Path(const PerfectSubtreeSource& source, uint64_t index,
                  uint64_t begin, uint64_t end, std::vector<std::string>* out) {
  const uint64_t n = end - begin;
  if (n <= 1) return absl::OkStatus();
  const uint64_t k = SplitPoint(n);
  if (index < k) {
    DX_RETURN_IF_ERROR(Path(source, index, begin, begin + k, out));
    DX_ASSIGN_OR_RETURN(std::string h, SubtreeHash(source, begin + k, end));
    out->push_back(std::move(h));
  } else {
    DX_RETURN_IF_ERROR(Path(source, index - k, begin + k, end, out));
    DX_ASSIGN_OR_RETURN(std::string h, SubtreeHash(source, begin, begin + k));
    out->push_back(std::move(h));
  }
  return absl::OkStatus();
}

absl::Status SubProof(const PerfectSubtreeSource& source, uint64_t m,
                      uint64_t begin, uint64_t end, bool complete,
                      std::vector<std::string>* out) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!complete) {
      DX_ASSIGN_OR_RETURN(std::string h, SubtreeHash(source, begin, end));
      out->push_back(std::move(h));
    }
    return absl::OkStatus();
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    DX_RETURN_IF_ERROR(SubProof(source, m, begin, begin + k, complete, out));
    DX_ASSIGN_OR_RETURN(std::string h, SubtreeHash(source, begin + k, end));
    out->push_back(std::move(h));
  } else {
    DX_RETURN_IF_ERROR(SubProof(source, m - k, begin + k, end, false, out));
    DX_ASSIGN_OR_RETURN(std::string h, SubtreeHash(source, begin, begin + k));
    out->push_back(std::move(h));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> InclusionProof(
    const PerfectSubtreeSource& source, uint64_t index, uint64_t tree_size) {
  if (index >= tree_size) {
    return absl::OutOfRangeError(absl::StrCat(
        "leaf ", index, " is not in a tree of ", tree_size, " leaves"));
  }
  std::vector<std::string> path;
  DX_RETURN_IF_ERROR(Path(source, index, 0, tree_size, &path));
  return path;
}

absl::StatusOr<std::vector<std::string>> ConsistencyProof(
    const PerfectSubtreeSource& source, uint64_t first, uint64_t second) {
  if (first > second) {
    return absl::OutOfRangeError(absl::StrCat(
        "first size ", first, " is larger than second size ", second));
  }
  std::vector<std::string> path;
  if (first == 0 || first == second) return path;
  DX_RETURN_IF_ERROR(SubProof(source, first, 0, second, true, &path));
  return path;
}

bool VerifyInclusion(uint64_t index, uint64_t tree_size,
                     const std::string& leaf_hash,
                     const std::vector<std::string>& path,
                     const std::string& root) {
  if (index >= tree_size) return false;
  uint64_t fn = index, sn = tree_size - 1;
  std::string r = leaf_hash;
  for (const std::string& p : path) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = HashChildren(p, r);
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t first, uint64_t second,
                       const std::string& first_root,
                       const std::string& second_root,
                       const std::vector<std::string>& path) {
  if (first > second) return false;
  if (first == second) return path.empty() && first_root == second_root;
  if (first == 0) return path.empty();
  if (path.empty()) return false;
  std::vector<std::string> p = path;
  if ((first & (first - 1)) == 0) p.insert(p.begin(), first_root);
  if (p.empty()) return false;
  uint64_t fn = first - 1, sn = second - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr = p[0], sr = p[0];
  for (size_t i = 1; i < p.size(); ++i) {
    const std::string& c = p[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == first_root && sr == second_root;
}

void CompactRange::Append(
    const std::string& leaf_hash,
    const std::function<void(int, uint64_t, const std::string&)>& on_node) {
  std::string h = leaf_hash;
  uint64_t index = size_;
  int level = 0;
  if (on_node) on_node(0, index, h);
  // Each trailing 1 bit of the old size is a perfect subtree that the new
  // leaf completes into a larger one.
  while (index & 1) {
    h = HashChildren(hashes_.back(), h);
    hashes_.pop_back();
    index >>= 1;
    ++level;
    if (on_node) on_node(level, index, h);
  }
  hashes_.push_back(std::move(h));
  ++size_;
}

std::string CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  std::string r = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) r = HashChildren(hashes_[i], r);
  return r;
}

absl::StatusOr<CompactRange> CompactRange::FromSource(
    const PerfectSubtreeSource& source, uint64_t size) {
  CompactRange range;
  range.size_ = size;
  uint64_t begin = 0;
  for (int level = BitLength(size) - 1; level >= 0; --level) {
    if (!(size & (uint64_t{1} << level))) continue;
    DX_ASSIGN_OR_RETURN(std::string h, source(level, begin >> level));
    range.hashes_.push_back(std::move(h));
    begin += uint64_t{1} << level;
  }
  return range;
}

}  // namespace dx::audit

namespace dx::audit {

absl::StatusOr<CompactRange> CompactRange::FromHashes(
    uint64_t size, std::vector<std::string> hashes) {
  if (static_cast<int>(hashes.size()) != __builtin_popcountll(size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a tree of ", size, " leaves is summarised by ",
        __builtin_popcountll(size), " subtree hashes, not ", hashes.size()));
  }
  for (const auto& h : hashes) {
    if (h.size() != 32)
      return absl::InvalidArgumentError("hash is not 32 bytes");
  }
  CompactRange range;
  range.size_ = size;
  range.hashes_ = std::move(hashes);
  return range;
}

}  // namespace dx::audit
