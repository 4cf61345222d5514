// The cluster merge and its cursor against fake nodes: pages of a node's
// records from vectors, and failures on demand.
#include "cli/cluster_merge.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace dx::cli {
namespace {

v1::StoredRecord Rec(const std::string& node, uint64_t seq, int64_t micros) {
  v1::StoredRecord r;
  r.set_sequence_number(seq);
  r.mutable_record()->set_node_id(node);
  r.mutable_record()->set_time_unix_micros(micros);
  return r;
}

std::string Key(const v1::StoredRecord& r) {
  return absl::StrCat(r.record().node_id(), "#", r.sequence_number());
}

// Nodes that answer pages of `page_size` from their records (in time
// order, as a node's query does); the page token is the offset. A node in
// `failing` answers UNAVAILABLE; `failing_from` fails pages from an offset.
class FakeNodes {
 public:
  explicit FakeNodes(size_t page_size) : page_size_(page_size) {}

  void Add(const v1::StoredRecord& r) {
    absl::MutexLock l(&mu_);
    logs_[r.record().node_id()].push_back(r);
  }
  void Fail(const std::string& node) {
    absl::MutexLock l(&mu_);
    failing_from_[node] = 0;
  }
  void FailFrom(const std::string& node, size_t offset) {
    absl::MutexLock l(&mu_);
    failing_from_[node] = offset;
  }
  void Heal(const std::string& node) {
    absl::MutexLock l(&mu_);
    failing_from_.erase(node);
  }
  int reads(const std::string& node) {
    absl::MutexLock l(&mu_);
    return reads_[node];
  }

  ClusterMerge::ReadPage Reader() {
    return [this](
               const std::string& node,
               const std::string& token) -> absl::StatusOr<ClusterMerge::Page> {
      absl::MutexLock l(&mu_);
      ++reads_[node];
      size_t offset = 0;
      if (!token.empty() && !absl::SimpleAtoi(token, &offset)) {
        return absl::InvalidArgumentError("bad token");
      }
      auto f = failing_from_.find(node);
      if (f != failing_from_.end() && offset >= f->second) {
        return absl::UnavailableError(absl::StrCat(node, " is down"));
      }
      const auto& log = logs_[node];
      ClusterMerge::Page page;
      for (size_t i = offset; i < log.size() && i < offset + page_size_; ++i) {
        page.records.push_back(log[i]);
      }
      if (offset + page_size_ < log.size()) {
        page.next_token = absl::StrCat(offset + page_size_);
      }
      return page;
    };
  }

 private:
  const size_t page_size_;
  absl::Mutex mu_;
  std::map<std::string, std::vector<v1::StoredRecord>> logs_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, size_t> failing_from_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> reads_ ABSL_GUARDED_BY(mu_);
};

// Three nodes whose records interleave in time, with ties.
void FillThree(FakeNodes& nodes) {
  for (uint64_t i = 0; i < 7; ++i) nodes.Add(Rec("n1", i, 10 * i));
  for (uint64_t i = 0; i < 5; ++i) nodes.Add(Rec("n2", i, 10 * i + 5));
  // n3's times equal n1's: the node id breaks the tie.
  for (uint64_t i = 0; i < 4; ++i) nodes.Add(Rec("n3", i, 10 * i));
}

std::vector<std::string> Drain(ClusterMerge& merge, size_t limit = 1000) {
  std::vector<std::string> out;
  while (out.size() < limit) {
    auto r = merge.Next();
    if (!r) break;
    out.push_back(Key(*r));
  }
  return out;
}

std::vector<std::string> Expected() {
  FakeNodes all(1000);
  FillThree(all);
  std::vector<v1::StoredRecord> records;
  for (uint64_t i = 0; i < 7; ++i) records.push_back(Rec("n1", i, 10 * i));
  for (uint64_t i = 0; i < 5; ++i) records.push_back(Rec("n2", i, 10 * i + 5));
  for (uint64_t i = 0; i < 4; ++i) records.push_back(Rec("n3", i, 10 * i));
  std::sort(records.begin(), records.end(), RecordBefore);
  std::vector<std::string> keys;
  for (const auto& r : records) keys.push_back(Key(r));
  return keys;
}

TEST(RecordBeforeTest, TimeThenNodeThenSequence) {
  EXPECT_TRUE(RecordBefore(Rec("n9", 9, 1), Rec("n1", 0, 2)));
  EXPECT_TRUE(RecordBefore(Rec("n1", 9, 5), Rec("n2", 0, 5)));
  EXPECT_TRUE(RecordBefore(Rec("n1", 3, 5), Rec("n1", 4, 5)));
  EXPECT_FALSE(RecordBefore(Rec("n1", 4, 5), Rec("n1", 4, 5)));
}

TEST(ClusterMergeTest, MergesEveryNodeByTimeAcrossPages) {
  FakeNodes nodes(2);
  FillThree(nodes);
  ClusterMerge merge({"n1", "n2", "n3"}, {}, {}, nodes.Reader());
  merge.Start();
  const std::vector<std::string> got = Drain(merge);
  EXPECT_EQ(got, Expected());
  ASSERT_EQ(got.size(), 16u);
  EXPECT_EQ(got[0], "n1#0");
  EXPECT_EQ(got[1], "n3#0");
  EXPECT_EQ(got[2], "n2#0");
  EXPECT_FALSE(merge.More());
  const v1::ClusterQueryCursor end = merge.Cursor();
  for (const auto& c : end.nodes()) EXPECT_TRUE(c.done());
  EXPECT_TRUE(merge.missed().empty());
  EXPECT_EQ(merge.streams(), 3u);
}

// Every page length, every node page size: the pages joined are the whole
// merge, each record once, in order.
TEST(ClusterMergeTest, CursorPagesNeitherRepeatNorSkip) {
  for (size_t page_size : {1u, 2u, 3u, 7u}) {
    for (size_t shown : {1u, 2u, 3u, 5u, 16u}) {
      FakeNodes nodes(page_size);
      FillThree(nodes);
      std::vector<std::string> joined;
      v1::ClusterQueryCursor cursor;
      for (int pages = 0; pages < 100; ++pages) {
        ClusterMerge merge({"n1", "n2", "n3"}, {}, cursor, nodes.Reader());
        merge.Start();
        for (const std::string& k : Drain(merge, shown)) joined.push_back(k);
        if (!merge.More()) break;
        // Through its printed form, as a user passes it back.
        auto decoded = DecodeCursor(EncodeCursor(merge.Cursor()));
        ASSERT_TRUE(decoded.ok()) << decoded.status();
        cursor = *decoded;
      }
      EXPECT_EQ(joined, Expected())
          << "page size " << page_size << ", " << shown << " per page";
    }
  }
}

// Start() is the parallel first read; without it the first Next() reads
// the first pages itself, and a second Start() reads nothing again.
TEST(ClusterMergeTest, NextStartsAMergeThatWasNotStarted) {
  FakeNodes nodes(2);
  FillThree(nodes);
  ClusterMerge merge({"n1", "n2", "n3"}, {}, {}, nodes.Reader());
  EXPECT_EQ(Drain(merge), Expected());
  const int reads = nodes.reads("n1");
  merge.Start();
  EXPECT_EQ(nodes.reads("n1"), reads);
}

TEST(ClusterMergeTest, ADoneNodeIsNotReadAgain) {
  FakeNodes nodes(100);
  FillThree(nodes);
  ClusterMerge first({"n1", "n2", "n3"}, {}, {}, nodes.Reader());
  first.Start();
  Drain(first, 14);  // n3's four and n2's five are all shown by then
  const v1::ClusterQueryCursor cursor = first.Cursor();
  ASSERT_TRUE(first.More());
  const int n3_reads = nodes.reads("n3");
  ClusterMerge second({"n1", "n2", "n3"}, {}, cursor, nodes.Reader());
  second.Start();
  EXPECT_EQ(Drain(second), (std::vector<std::string>{"n1#5", "n1#6"}));
  EXPECT_EQ(nodes.reads("n3"), n3_reads);
}

// A node down at the first page is named, and keeps its place: the next
// page, with the node back, holds its records from where it was.
TEST(ClusterMergeTest, ANodeDownAtTheStartKeepsItsPlace) {
  FakeNodes nodes(2);
  FillThree(nodes);
  ClusterMerge first({"n1", "n2", "n3"}, {}, {}, nodes.Reader());
  first.Start();
  std::vector<std::string> joined = Drain(first, 4);
  v1::ClusterQueryCursor cursor = first.Cursor();

  nodes.Fail("n2");
  ClusterMerge second({"n1", "n2", "n3"}, {}, cursor, nodes.Reader());
  second.Start();
  ASSERT_EQ(second.missed().size(), 1u);
  EXPECT_EQ(second.missed()[0].node, "n2");
  EXPECT_TRUE(absl::IsUnavailable(second.missed()[0].problem));
  EXPECT_EQ(second.streams(), 2u);
  std::vector<std::string> without_n2 = Drain(second);
  for (const auto& k : without_n2) EXPECT_NE(k.substr(0, 2), "n2") << k;
  EXPECT_TRUE(second.More()) << "n2 is not done";
  const v1::ClusterQueryCursor after = second.Cursor();
  for (const auto& c : after.nodes()) {
    if (c.node_id() != "n2") continue;
    for (const auto& was : cursor.nodes()) {
      if (was.node_id() == "n2") {
        EXPECT_EQ(c.SerializeAsString(), was.SerializeAsString());
      }
    }
  }

  // Back: the rest of n2, and nothing of the others twice.
  nodes.Heal("n2");
  ClusterMerge third({"n1", "n2", "n3"}, {}, after, nodes.Reader());
  third.Start();
  std::vector<std::string> rest = Drain(third);
  EXPECT_FALSE(third.More());
  joined.insert(joined.end(), without_n2.begin(), without_n2.end());
  joined.insert(joined.end(), rest.begin(), rest.end());
  std::multiset<std::string> got(joined.begin(), joined.end());
  std::vector<std::string> expected = Expected();
  EXPECT_EQ(got, std::multiset<std::string>(expected.begin(), expected.end()));
}

// A node that fails on a later page: the cursor resumes it at the page that
// failed, so none of its records is lost.
TEST(ClusterMergeTest, ANodeFailingMidwayResumesAtThePageThatFailed) {
  FakeNodes nodes(2);
  FillThree(nodes);
  nodes.FailFrom("n1", 4);  // n1#4 onwards cannot be read
  ClusterMerge first({"n1", "n2", "n3"}, {}, {}, nodes.Reader());
  first.Start();
  std::vector<std::string> joined = Drain(first);
  ASSERT_EQ(first.missed().size(), 1u);
  EXPECT_EQ(first.missed()[0].node, "n1");
  EXPECT_TRUE(first.More());
  bool found = false;
  const v1::ClusterQueryCursor after = first.Cursor();
  for (const auto& c : after.nodes()) {
    if (c.node_id() != "n1") continue;
    found = true;
    EXPECT_EQ(c.page_token(), "4");
    EXPECT_EQ(c.skip(), 0u);
    EXPECT_FALSE(c.done());
  }
  EXPECT_TRUE(found);

  nodes.Heal("n1");
  ClusterMerge second({"n1", "n2", "n3"}, {}, first.Cursor(), nodes.Reader());
  second.Start();
  std::vector<std::string> rest = Drain(second);
  EXPECT_EQ(rest, (std::vector<std::string>{"n1#4", "n1#5", "n1#6"}));
  EXPECT_FALSE(second.More());
  joined.insert(joined.end(), rest.begin(), rest.end());
  std::vector<std::string> expected = Expected();
  EXPECT_EQ(std::multiset<std::string>(joined.begin(), joined.end()),
            std::multiset<std::string>(expected.begin(), expected.end()));
}

// A node that could not be asked at all is in the cursor: from its old
// place, or from the beginning when it had none. Never "done".
TEST(ClusterMergeTest, AnUnreadableNodeIsNeverPassedOver) {
  FakeNodes nodes(2);
  FillThree(nodes);
  v1::ClusterQueryCursor resume;
  auto* was = resume.add_nodes();
  was->set_node_id("n2");
  was->set_page_token("2");
  was->set_skip(1);
  ClusterMerge merge({"n1"}, {"n2", "10.0.0.9:7000"}, resume, nodes.Reader());
  merge.Start();
  Drain(merge);
  EXPECT_EQ(nodes.reads("n2"), 0);
  EXPECT_TRUE(merge.More());
  std::map<std::string, v1::ClusterQueryCursor::Node> by_node;
  const v1::ClusterQueryCursor cursor = merge.Cursor();
  for (const auto& c : cursor.nodes()) by_node[c.node_id()] = c;
  ASSERT_EQ(by_node.size(), 3u);
  EXPECT_TRUE(by_node["n1"].done());
  EXPECT_EQ(by_node["n2"].page_token(), "2");
  EXPECT_EQ(by_node["n2"].skip(), 1u);
  EXPECT_FALSE(by_node["n2"].done());
  EXPECT_EQ(by_node["10.0.0.9:7000"].page_token(), "");
  EXPECT_FALSE(by_node["10.0.0.9:7000"].done());
}

TEST(ClusterMergeTest, ASkipBeyondThePageShowsNothingOfIt) {
  FakeNodes nodes(2);
  nodes.Add(Rec("n1", 0, 1));
  nodes.Add(Rec("n1", 1, 2));
  v1::ClusterQueryCursor resume;
  auto* c = resume.add_nodes();
  c->set_node_id("n1");
  c->set_skip(4000000000u);  // hostile: more than the page holds
  ClusterMerge merge({"n1"}, {}, resume, nodes.Reader());
  merge.Start();
  EXPECT_TRUE(Drain(merge).empty());
  EXPECT_FALSE(merge.More());
}

TEST(CursorTextTest, RoundTripsAndRefusesWhatItDidNotPrint) {
  v1::ClusterQueryCursor c;
  auto* n = c.add_nodes();
  n->set_node_id("n1");
  n->set_page_token("tok");
  n->set_skip(3);
  auto back = DecodeCursor(EncodeCursor(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->SerializeAsString(), c.SerializeAsString());
  for (const char* bad : {"!!!", "_w"}) {
    auto s = DecodeCursor(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << bad;
    EXPECT_NE(s.status().message().find("without it"), std::string::npos);
  }
}

}  // namespace
}  // namespace dx::cli
