// FieldSet: a set of a dataset's fields as bits (field i of the schema is
// bit i), so that subset and overlap checks on every decision cost a few
// word operations.
#ifndef DX_POLICY_FIELD_SET_H_
#define DX_POLICY_FIELD_SET_H_

#include <cstdint>

#include "absl/container/inlined_vector.h"

namespace dx::policy {

class FieldSet {
 public:
  FieldSet() = default;
  explicit FieldSet(size_t size) : words_((size + 63) / 64, 0) {}
  static FieldSet All(size_t size) {
    FieldSet s(size);
    for (size_t i = 0; i < size; ++i) s.Add(i);
    return s;
  }

  void Add(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  bool Has(size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  bool Empty() const {
    for (uint64_t w : words_)
      if (w != 0) return false;
    return true;
  }
  bool SubsetOf(const FieldSet& o) const {
    for (size_t i = 0; i < words_.size(); ++i)
      if (words_[i] & ~o.words_[i]) return false;
    return true;
  }
  bool Intersects(const FieldSet& o) const {
    for (size_t i = 0; i < words_.size(); ++i)
      if (words_[i] & o.words_[i]) return true;
    return false;
  }
  FieldSet Minus(const FieldSet& o) const {
    FieldSet r = *this;
    for (size_t i = 0; i < words_.size(); ++i) r.words_[i] &= ~o.words_[i];
    return r;
  }
  FieldSet And(const FieldSet& o) const {
    FieldSet r = *this;
    for (size_t i = 0; i < words_.size(); ++i) r.words_[i] &= o.words_[i];
    return r;
  }
  void AddAll(const FieldSet& o) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] |= o.words_[i];
  }
  bool operator==(const FieldSet& o) const { return words_ == o.words_; }

 private:
  absl::InlinedVector<uint64_t, 2> words_;
};

}  // namespace dx::policy

#endif  // DX_POLICY_FIELD_SET_H_
