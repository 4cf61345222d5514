#include "bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace dx::bench {
namespace {

TEST(HistogramTest, PercentilesWithinBucketPrecision) {
  Histogram h;
  std::vector<uint64_t> values;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = 50 + rng() % 100000;
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact =
        static_cast<double>(values[static_cast<size_t>(q * values.size()) - 1]);
    const double got = static_cast<double>(h.Percentile(q));
    EXPECT_NEAR(got, exact, exact * 0.035) << q;
  }
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max(), values.back());
}

TEST(HistogramTest, SmallValuesAreExactAndMergeAdds) {
  Histogram a, b;
  for (uint64_t v = 0; v < 60; ++v) a.Record(v);
  b.Record(1000000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 61u);
  EXPECT_EQ(a.Percentile(0.5), 30u);
  EXPECT_GE(a.Percentile(1.0), 1000000u);
  EXPECT_EQ(Histogram().Percentile(0.5), 0u);
}

}  // namespace
}  // namespace dx::bench
