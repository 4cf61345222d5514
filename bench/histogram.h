// A log-linear latency histogram (HDR-style): 64 linear sub-buckets per
// power of two, so any percentile is within ~1.5% of the true value, in
// constant memory. Values are microseconds. Not thread-safe.
#ifndef DX_BENCH_HISTOGRAM_H_
#define DX_BENCH_HISTOGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace dx::bench {

class Histogram {
 public:
  void Record(uint64_t micros) {
    ++buckets_[Index(micros)];
    ++count_;
    if (micros > max_) max_ = micros;
  }
  void Merge(const Histogram& other) {
    for (size_t i = 0; i < buckets_.size(); ++i)
      buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    if (other.max_ > max_) max_ = other.max_;
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The value at quantile q in [0, 1] (upper edge of its bucket).
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    const uint64_t target = static_cast<uint64_t>(q * count_ + 0.5);
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= target && buckets_[i] > 0) return UpperEdge(i);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 6;  // 64 sub-buckets
  static constexpr int kSub = 1 << kSubBits;
  static size_t Index(uint64_t v) {
    if (v < kSub) return v;
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - kSubBits;
    return static_cast<size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
  }
  static uint64_t UpperEdge(size_t i) {
    if (i < kSub) return i;
    const int shift = static_cast<int>(i / kSub) - 1;
    const uint64_t sub = i % kSub + kSub;
    return ((sub + 1) << shift) - 1;
  }
  std::array<uint64_t, (64 - kSubBits + 1) * kSub> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace dx::bench

#endif  // DX_BENCH_HISTOGRAM_H_
