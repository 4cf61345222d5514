#include "audit/log_verifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "audit/tree_head.h"

namespace dx::audit {

LogVerifier::LogVerifier(CompactRange start,
                         std::vector<v1::SignedTreeHead> tree_heads,
                         EVP_PKEY* log_key)
    : LogVerifier(std::move(start), std::move(tree_heads),
                  [log_key](const v1::SignedTreeHead&) { return log_key; }) {}

bool LogVerifier::VerifyHead(const v1::SignedTreeHead& h) {
  EVP_PKEY* key = key_for_(h);
  return key != nullptr && VerifyTreeHead(h, key);
}

LogVerifier::LogVerifier(CompactRange start,
                         std::vector<v1::SignedTreeHead> tree_heads,
                         KeyFor key_for)
    : range_(std::move(start)),
      heads_(std::move(tree_heads)),
      key_for_(std::move(key_for)),
      last_checked_size_(range_.size()) {
  std::sort(heads_.begin(), heads_.end(), [](const auto& a, const auto& b) {
    return a.tree_size() < b.tree_size();
  });
  // Heads at or before the start: only their signatures can be checked.
  while (next_head_ < heads_.size() &&
         heads_[next_head_].tree_size() <= range_.size()) {
    const auto& h = heads_[next_head_];
    if (!VerifyHead(h)) {
      Fail(-1, absl::StrCat("tree head of size ", h.tree_size(),
                            ": signature does not verify"));
      return;
    }
    if (h.tree_size() == range_.size() && h.root_hash() != range_.Root()) {
      Fail(-1, absl::StrCat("tree head of size ", h.tree_size(),
                            ": root differs from the summary of the first ",
                            range_.size(), " records"));
      return;
    }
    ++report_.tree_heads_checked;
    ++next_head_;
  }
}

void LogVerifier::Fail(int64_t seq, std::string problem) {
  if (!report_.ok) return;
  report_.ok = false;
  report_.bad_sequence = seq;
  report_.problem = std::move(problem);
}

bool LogVerifier::Add(const v1::StoredRecord& record) {
  if (!report_.ok) return false;
  const uint64_t expected = range_.size();
  if (record.sequence_number() != expected) {
    Fail(expected, absl::StrCat("record ", expected, " is missing (next is ",
                                record.sequence_number(), ")"));
    return false;
  }
  const std::string leaf = HashLeaf(record.record_bytes());
  if (!record.leaf_hash().empty() && leaf != record.leaf_hash()) {
    Fail(expected,
         absl::StrCat("record ", expected,
                      ": its stored bytes do not match its leaf hash in the "
                      "tree (the record was altered)"));
    return false;
  }
  range_.Append(leaf);
  ++report_.records_checked;
  return CheckHeadsUpTo(range_.size());
}

bool LogVerifier::CheckHeadsUpTo(uint64_t size) {
  while (next_head_ < heads_.size() && heads_[next_head_].tree_size() == size) {
    const auto& h = heads_[next_head_];
    if (!VerifyHead(h)) {
      Fail(-1, absl::StrCat("tree head of size ", size,
                            ": signature does not verify"));
      return false;
    }
    if (h.root_hash() != range_.Root()) {
      Fail(static_cast<int64_t>(last_checked_size_),
           absl::StrCat("tree head of size ", size,
                        ": its signed root differs from the root of the "
                        "records; a record in [",
                        last_checked_size_, ", ", size,
                        ") was altered or removed"));
      return false;
    }
    ++report_.tree_heads_checked;
    last_checked_size_ = size;
    ++next_head_;
  }
  return true;
}

VerifyReport LogVerifier::Finish() {
  if (report_.ok && next_head_ < heads_.size()) {
    Fail(static_cast<int64_t>(range_.size()),
         absl::StrCat("tree head of size ", heads_[next_head_].tree_size(),
                      " covers records that were not found (the log ends "
                      "at ",
                      range_.size(), ")"));
  }
  report_.uncovered_records = range_.size() - last_checked_size_;
  return report_;
}

}  // namespace dx::audit
