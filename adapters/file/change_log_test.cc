#include "adapters/file/change_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/testing/temp_dir.h"

namespace dx::adapters {
namespace {

const std::vector<std::string> kCols = {"citizen_id", "full_name"};

TEST(ChangeLineTest, ParsesEachKind) {
  auto c = ParseChangeLine(
      R"({"position": 3, "key": "k1", "kind": "update", "values": )"
      R"({"citizen_id": "k1", "full_name": null, "other": 1}, )"
      R"("commit_time": "2026-12-07T06:00:00Z"})",
      kCols);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->position(), "3");
  EXPECT_EQ(c->kind(), v1::CHANGE_KIND_UPDATE);
  ASSERT_EQ(c->values().values_size(), 2);
  EXPECT_EQ(c->values().values(0), "k1");
  ASSERT_EQ(c->values().nulls_size(), 1);  // null is missing, not ""
  EXPECT_EQ(c->values().nulls(0), 1u);
  auto d = ParseChangeLine(R"({"position": 4, "key": "k1", "kind": "delete", )"
                           R"("commit_time": "2026-12-07T06:00:01Z"})",
                           kCols);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->values().values_size(), 0);
}

// A delete may carry the record as it was: the gateway decides a row
// filter on it (a delete of a record in the consumer's rows is sent, one
// out of them withheld). It was dropped before, so every delete was
// withheld from a filtered consumer.
TEST(ChangeLineTest, ADeleteMayCarryTheRecordAsItWas) {
  auto d = ParseChangeLine(
      R"({"position": 4, "key": "k1", "kind": "delete", "values": )"
      R"({"citizen_id": "k1", "full_name": "Gone"}, )"
      R"("commit_time": "2026-12-07T06:00:01Z"})",
      kCols);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->values().values_size(), 2);
  EXPECT_EQ(d->values().values(1), "Gone");
  EXPECT_FALSE(ParseChangeLine(R"({"position": 4, "key": "k1", )"
                               R"("kind": "delete", "values": [1], )"
                               R"("commit_time": "2026-12-07T06:00:01Z"})",
                               kCols)
                   .ok());
}

TEST(ChangeLineTest, AnUpdateMayCarryTheRecordAsItWas) {
  auto c = ParseChangeLine(
      R"({"position": 5, "key": "k1", "kind": "update", "values": )"
      R"({"citizen_id": "k1", "full_name": "New"}, "previous": )"
      R"({"citizen_id": "k1", "full_name": "Old"}, )"
      R"("commit_time": "2026-12-07T06:00:00Z"})",
      kCols);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->previous_values().values_size(), 2);
  EXPECT_EQ(c->previous_values().values(1), "Old");
  EXPECT_EQ(c->values().values(1), "New");
  // Only an update or a correction has a before; and it is an object.
  for (const char* bad : {
           R"({"position": 1, "key": "k", "kind": "insert", "values": {}, )"
           R"("previous": {}, "commit_time": "2026-12-07T06:00:00Z"})",
           R"({"position": 1, "key": "k", "kind": "update", "values": {}, )"
           R"("previous": "x", "commit_time": "2026-12-07T06:00:00Z"})",
       }) {
    EXPECT_FALSE(ParseChangeLine(bad, kCols).ok()) << bad;
  }
}

TEST(ChangeLineTest, RefusesWhatIsNotAChange) {
  for (
      const char* bad : {
          "not json",
          R"({"key": "k", "kind": "insert", "values": {}, "commit_time": "2026-12-07T06:00:00Z"})",
          R"({"position": -1, "key": "k", "kind": "insert", "values": {}, "commit_time": "2026-12-07T06:00:00Z"})",
          R"({"position": 1, "key": "", "kind": "insert", "values": {}, "commit_time": "2026-12-07T06:00:00Z"})",
          R"({"position": 1, "key": "k", "kind": "upsert", "values": {}, "commit_time": "2026-12-07T06:00:00Z"})",
          R"({"position": 1, "key": "k", "kind": "insert", "commit_time": "2026-12-07T06:00:00Z"})",
          R"({"position": 1, "key": "k", "kind": "insert", "values": {}, "commit_time": "yesterday"})",
      }) {
    EXPECT_FALSE(ParseChangeLine(bad, kCols).ok()) << bad;
  }
}

class FakeBase final : public DataSource {
 public:
  absl::Status Fetch(const v1::AdapterRequest&, const FetchContext&,
                     const Emit&) const override {
    return absl::OkStatus();
  }
};

std::string Line(int pos, const char* key, const char* kind) {
  return absl::StrCat(R"({"position": )", pos, R"(, "key": ")", key,
                      R"(", "kind": ")", kind,
                      R"(", "values": {"citizen_id": ")", key,
                      R"("}, "commit_time": "2026-12-07T06:00:00Z"})", "\n");
}

// Reads the feed until `want` changes arrived (or a bound of batches).
std::vector<v1::ProviderChange> Follow(const ChangeLogSource& src,
                                       v1::ChangesRequest req, size_t want,
                                       absl::Status* st,
                                       std::string* end = nullptr) {
  std::vector<v1::ProviderChange> got;
  int batches = 0;
  FetchContext ctx;
  *st = src.Changes(req, ctx, [&](v1::ChangeBatch&& b) {
    for (auto& c : *b.mutable_changes()) got.push_back(c);
    if (end) *end = b.end_position();
    return got.size() < want && ++batches < 100;
  });
  return got;
}

TEST(ChangeLogSourceTest, ResumesAfterAPositionAndFollowsAppends) {
  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  {
    std::ofstream f(path);
    f << Line(1, "a", "insert") << Line(2, "a", "update")
      << Line(5, "b", "insert");
  }
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  v1::ChangesRequest req;
  req.add_fields("citizen_id");
  req.set_after_position("1");
  absl::Status st;
  auto got = Follow(src, req, 2, &st);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].position(), "2");
  EXPECT_EQ(got[1].position(), "5");
  EXPECT_EQ(got[1].values().values(0), "b");

  // From the end: nothing old, the end position first, then what is added.
  req.clear_after_position();
  req.set_from_end(true);
  std::string end;
  std::vector<v1::ProviderChange> later;
  bool appended = false;
  st = src.Changes(req, {}, [&](v1::ChangeBatch&& b) {
    if (!appended) {
      EXPECT_EQ(b.changes_size(), 0);
      EXPECT_EQ(b.end_position(), "5");
      std::ofstream f(path, std::ios::app);
      f << Line(6, "c", "delete");
      appended = true;
      return true;
    }
    for (auto& c : *b.mutable_changes()) later.push_back(c);
    return later.empty();
  });
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].kind(), v1::CHANGE_KIND_DELETE);
  EXPECT_EQ(later[0].position(), "6");
}

TEST(ChangeLogSourceTest, PositionsThatDoNotIncreaseStopTheFeed) {
  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  {
    std::ofstream f(path);
    f << Line(2, "a", "insert") << Line(2, "a", "update");
  }
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  v1::ChangesRequest req;
  req.add_fields("citizen_id");
  absl::Status st;
  Follow(src, req, 10, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("does not follow"), std::string::npos) << st;
}

TEST(ChangeLogSourceTest, ALogThatShrinksStopsTheFeed) {
  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  {
    std::ofstream f(path);
    f << Line(1, "a", "insert") << Line(2, "a", "update");
  }
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  v1::ChangesRequest req;
  req.add_fields("citizen_id");
  bool rewritten = false;
  absl::Status st = src.Changes(req, {}, [&](v1::ChangeBatch&&) {
    if (!rewritten) {
      std::ofstream f(path, std::ios::trunc);  // rewritten, not appended
      f << Line(1, "b", "insert");
      rewritten = true;
    }
    return true;
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("only be appended to"), std::string::npos);
}

}  // namespace
TEST(ChangeLogSourceTest, AResumeFromBeforeTheRetentionMarkerIsOutOfRange) {
  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  {
    std::ofstream f(path);
    f << R"({"pruned_through": 10})"
      << "\n"
      << Line(11, "a", "update") << Line(12, "b", "insert");
  }
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  v1::ChangesRequest req;
  req.add_fields("citizen_id");
  absl::Status st;
  // Changes 4 to 10 are gone: a gap, refused.
  req.set_after_position("3");
  EXPECT_TRUE(Follow(src, req, 1, &st).empty());
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  EXPECT_NE(st.message().find("keeps only the changes after position 10"),
            std::string::npos)
      << st;
  // At the marker, or past it: nothing missing.
  req.set_after_position("10");
  auto got = Follow(src, req, 2, &st);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].position(), "11");
  // From the oldest change kept (no position): no gap to tell.
  req.clear_after_position();
  got = Follow(src, req, 2, &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(got.size(), 2u);
  // From the end, whatever was pruned.
  req.set_from_end(true);
  std::string end;
  st = src.Changes(req, {}, [&](v1::ChangeBatch&& b) {
    end = b.end_position();
    return false;  // the first batch tells the end
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(end, "12");
}

// position_only: one empty batch naming where the request would start,
// then the end of the call (the gateway pins a new subscription with it).
TEST(ChangeLogSourceTest, PositionOnlyTellsWhereAFeedWouldStart) {
  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  auto start_of = [&](v1::ChangesRequest req, absl::Status* st) {
    req.add_fields("citizen_id");
    req.set_position_only(true);
    std::vector<v1::ChangeBatch> batches;
    *st = src.Changes(req, {}, [&](v1::ChangeBatch&& b) {
      batches.push_back(b);
      return true;  // it must end by itself
    });
    EXPECT_LE(batches.size(), 1u);
    if (batches.empty()) return std::string("(none)");
    EXPECT_EQ(batches[0].changes_size(), 0);
    return batches[0].end_position();
  };
  absl::Status st;
  v1::ChangesRequest from_oldest, from_end, snapshot;
  from_end.set_from_end(true);
  snapshot.set_snapshot_first(true);
  { std::ofstream f(path); }
  EXPECT_EQ(start_of(from_oldest, &st), "0");
  ASSERT_TRUE(st.ok()) << st;
  {
    std::ofstream f(path);
    f << Line(1, "a", "insert") << Line(4, "b", "insert");
  }
  EXPECT_EQ(start_of(from_oldest, &st), "0");
  EXPECT_EQ(start_of(from_end, &st), "4");
  {
    std::ofstream f(path);
    f << R"({"pruned_through": 3})"
      << "\n"
      << Line(4, "b", "insert");
  }
  EXPECT_EQ(start_of(from_oldest, &st), "3");
  ASSERT_TRUE(st.ok()) << st;
  // Pinned at 0 before the prune, a feed now finds its gap.
  v1::ChangesRequest resume;
  resume.add_fields("citizen_id");
  resume.set_after_position("0");
  EXPECT_TRUE(Follow(src, resume, 1, &st).empty());
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  // No snapshots from a change log.
  EXPECT_EQ(start_of(snapshot, &st), "(none)");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
}

// Wide changes: a batch ends at kMaxBatchBytes, not only at max_changes,
// so it always fits what the gateway can receive; nothing is lost between.
TEST(ChangeLogSourceTest, ABatchOfWideChangesEndsAtItsByteBound) {
  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  const std::string wide(1000000, 'w');
  {
    std::ofstream f(path);
    for (int i = 1; i <= 20; ++i) {
      f << absl::StrCat(R"({"position": )", i, R"(, "key": "k)", i,
                        R"(", "kind": "insert", "values": {"citizen_id": ")",
                        wide, R"("}, "commit_time": "2026-12-07T06:00:00Z"})",
                        "\n");
    }
  }
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  v1::ChangesRequest req;
  req.add_fields("citizen_id");
  req.set_max_changes(256);
  std::vector<int> sizes;
  std::vector<std::string> keys;
  absl::Status st = src.Changes(req, {}, [&](v1::ChangeBatch&& b) {
    EXPECT_LT(b.ByteSizeLong(), ChangeLogSource::kMaxBatchBytes + (1u << 20));
    sizes.push_back(b.changes_size());
    for (const auto& c : b.changes()) keys.push_back(c.key());
    return keys.size() < 20;
  });
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_GE(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], 9);  // 9 x 1 MB passes 8 MiB
  ASSERT_EQ(keys.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(keys[i], absl::StrCat("k", i + 1));
}

TEST(ChangeLogSourceTest, AMarkerMustComeFirstAndBeWellFormed) {
  EXPECT_EQ(PrunedThrough(R"({"pruned_through": 7})").value(), 7u);
  EXPECT_FALSE(PrunedThrough(Line(1, "a", "insert")).value().has_value());
  EXPECT_FALSE(PrunedThrough(R"({"pruned_through": -1})").ok());
  EXPECT_FALSE(PrunedThrough(R"({"pruned_through": 7, "key": "a"})").ok());

  const std::string dir = dx::testing::MakeTempDir("changelog");
  const std::string path = dir + "/changes.jsonl";
  {
    std::ofstream f(path);  // a marker after a change is not a change
    f << Line(1, "a", "insert") << R"({"pruned_through": 5})"
      << "\n";
  }
  ChangeLogSource src(std::make_unique<FakeBase>(), path,
                      absl::Milliseconds(5));
  v1::ChangesRequest req;
  req.add_fields("citizen_id");
  absl::Status st;
  Follow(src, req, 5, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  {
    std::ofstream f(path, std::ios::trunc);  // a change must follow N
    f << R"({"pruned_through": 5})"
      << "\n"
      << Line(5, "a", "insert");
  }
  Follow(src, req, 5, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("does not follow"), std::string::npos) << st;
}

}  // namespace dx::adapters
