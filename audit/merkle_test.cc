#include "audit/merkle.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/escaping.h"
#include "common/files.h"

namespace dx::audit {
namespace {

// The RFC 6962 definition, computed the slow way from the leaves.
std::string ReferenceRoot(const std::vector<std::string>& leaves, size_t b,
                          size_t e) {
  if (e == b) return EmptyRoot();
  if (e - b == 1) return HashLeaf(leaves[b]);
  size_t k = 1;
  while (k * 2 < e - b) k *= 2;
  return HashChildren(ReferenceRoot(leaves, b, b + k),
                      ReferenceRoot(leaves, b + k, e));
}

// A tree built with CompactRange, its perfect subtrees kept in a map.
struct TestTree {
  std::vector<std::string> leaves;
  std::map<std::pair<int, uint64_t>, std::string> nodes;
  CompactRange range;
  std::vector<std::string> roots;  // roots[n] = root of the first n leaves

  explicit TestTree(size_t n) {
    roots.push_back(range.Root());
    for (size_t i = 0; i < n; ++i) {
      leaves.push_back("leaf-" + std::to_string(i));
      range.Append(HashLeaf(leaves.back()),
                   [&](int level, uint64_t index, const std::string& h) {
                     nodes[{level, index}] = h;
                   });
      roots.push_back(range.Root());
    }
  }
  PerfectSubtreeSource Source() const {
    return [this](int level, uint64_t index) -> absl::StatusOr<std::string> {
      auto it = nodes.find({level, index});
      if (it == nodes.end()) return absl::NotFoundError("no node");
      return it->second;
    };
  }
};

std::string Hex(const std::string& s) { return HexEncode(s); }

TEST(MerkleTest, KnownRootsFromTheCertificateTransparencyTestVectors) {
  const std::vector<std::string> leaves = {"",
                                           "00",
                                           "10",
                                           "2021",
                                           "3031",
                                           "40414243",
                                           "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f"};
  const std::vector<std::string> roots = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  CompactRange range;
  EXPECT_EQ(Hex(range.Root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (size_t i = 0; i < leaves.size(); ++i) {
    range.Append(HashLeaf(absl::HexStringToBytes(leaves[i])));
    EXPECT_EQ(Hex(range.Root()), roots[i]) << "size " << i + 1;
  }
}

TEST(MerkleTest, CompactRangeMatchesTheDefinitionAndStoresPerfectSubtrees) {
  TestTree t(70);
  for (size_t n = 0; n <= 70; ++n) {
    ASSERT_EQ(t.roots[n], ReferenceRoot(t.leaves, 0, n)) << n;
    auto h = SubtreeHash(t.Source(), 0, n);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(*h, t.roots[n]) << n;
  }
  // Amortised O(1): fewer than two stored nodes per leaf.
  EXPECT_LT(t.nodes.size(), 2 * t.leaves.size());
  auto restored = CompactRange::FromSource(t.Source(), 45);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->Root(), t.roots[45]);
  restored->Append(HashLeaf(t.leaves[45]));
  EXPECT_EQ(restored->Root(), t.roots[46]);
}

TEST(MerkleTest, EveryInclusionProofVerifies) {
  TestTree t(33);
  for (uint64_t n = 1; n <= 33; ++n) {
    for (uint64_t i = 0; i < n; ++i) {
      auto path = InclusionProof(t.Source(), i, n);
      ASSERT_TRUE(path.ok());
      const std::string leaf = HashLeaf(t.leaves[i]);
      EXPECT_TRUE(VerifyInclusion(i, n, leaf, *path, t.roots[n]))
          << i << "/" << n;
      // Wrong index, wrong root, wrong leaf, altered path: all fail.
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion((i + 1) % n, n, leaf, *path, t.roots[n]));
        EXPECT_FALSE(VerifyInclusion(i, n, leaf, *path, t.roots[n - 1]));
        EXPECT_FALSE(VerifyInclusion(i, n, HashLeaf("x"), *path, t.roots[n]));
        auto bad = *path;
        bad[0][0] ^= 1;
        EXPECT_FALSE(VerifyInclusion(i, n, leaf, bad, t.roots[n]));
        bad = *path;
        bad.pop_back();
        EXPECT_FALSE(VerifyInclusion(i, n, leaf, bad, t.roots[n]));
      }
    }
  }
  EXPECT_FALSE(InclusionProof(t.Source(), 5, 5).ok());
}

TEST(MerkleTest, EveryConsistencyProofVerifies) {
  TestTree t(33);
  for (uint64_t n = 1; n <= 33; ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      auto path = ConsistencyProof(t.Source(), m, n);
      ASSERT_TRUE(path.ok());
      EXPECT_TRUE(VerifyConsistency(m, n, t.roots[m], t.roots[n], *path))
          << m << "->" << n;
      if (m < n) {
        EXPECT_FALSE(
            VerifyConsistency(m, n, t.roots[m], t.roots[n - 1], *path));
        EXPECT_FALSE(VerifyConsistency(m, n, HashLeaf("x"), t.roots[n], *path));
        auto bad = *path;
        bad.back()[3] ^= 1;
        EXPECT_FALSE(VerifyConsistency(m, n, t.roots[m], t.roots[n], bad));
      }
    }
  }
  EXPECT_FALSE(VerifyConsistency(3, 5, t.roots[3], t.roots[5], {}));
  EXPECT_FALSE(ConsistencyProof(t.Source(), 6, 5).ok());
}

}  // namespace
}  // namespace dx::audit
