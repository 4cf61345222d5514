#include "adapters/rest/change_feed_plan.h"

#include <gtest/gtest.h>

#include "common/records.h"

namespace dx::adapters {
namespace {

v1::RestDataset Dataset() {
  v1::RestDataset ds;
  ds.set_dataset_id("gdt.taxpayers");
  ds.set_url("https://api.example/v1/taxpayers/{tax_code}");
  auto* f = ds.add_fields();
  f->set_name("tax_code");
  f->set_pointer("/mst");
  ds.add_fields()->set_name("name");  // default pointer /name
  ds.mutable_change_feed()->set_url("https://api.example/v1/changes");
  return ds;
}

ChangeFeedPlan Plan(const v1::RestDataset& ds = Dataset()) {
  auto plan = ChangeFeedPlan::Compile(ds);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

FieldPointers All(const v1::RestDataset& ds = Dataset()) {
  return *ResolveFields(ds, {});
}

TEST(ChangeFeedPlanTest, DefaultsBuildTheConventionsUrl) {
  const ChangeFeedPlan plan = Plan();
  EXPECT_EQ(plan.PageUrl("", 256),
            "https://api.example/v1/changes?after=&limit=256");
  // An opaque position cannot add a parameter or change the path.
  EXPECT_EQ(plan.PageUrl("7&limit=1/..", 0),
            "https://api.example/v1/changes?after=7%26limit%3D1%2F..&limit=0");
  EXPECT_EQ(plan.poll(), absl::Seconds(1));
  v1::RestDataset ds = Dataset();
  auto* c = ds.mutable_change_feed();
  c->set_url("http://feed.example/x?v=2");
  c->set_after_param("cursor");
  c->set_limit_param("page size");
  c->set_poll_millis(50);
  EXPECT_EQ(Plan(ds).PageUrl("a", 1),
            "http://feed.example/x?v=2&cursor=a&page%20size=1");
  EXPECT_EQ(Plan(ds).poll(), absl::Milliseconds(50));
}

TEST(ChangeFeedPlanTest, CompileRefusesWhatCannotWork) {
  struct Case {
    void (*edit)(v1::RestDataset::ChangeFeed*);
    const char* says;
  } cases[] = {
      {[](auto* c) { c->set_url(""); }, "is not an http or https URL"},
      {[](auto* c) { c->set_url("ftp://x/changes"); }, "is not an http"},
      {[](auto* c) { c->set_url("https://x/{tax_code}"); }, "{placeholder}"},
      {[](auto* c) { c->set_url("https://user@x/changes"); }, "fixed host"},
      {[](auto* c) { c->set_url("https://x/c?after=1"); }, "already has"},
      {[](auto* c) { c->set_limit_param("after"); }, "must differ"},
      {[](auto* c) { c->set_values_pointer("values"); }, "must start with /"},
      {[](auto* c) { c->set_changes_pointer("data"); }, "must start with /"},
      {[](auto* c) { c->set_previous_pointer("/values"); }, "must differ"},
  };
  for (const Case& k : cases) {
    v1::RestDataset ds = Dataset();
    k.edit(ds.mutable_change_feed());
    auto plan = ChangeFeedPlan::Compile(ds);
    ASSERT_FALSE(plan.ok()) << k.says;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(plan.status().message().find("dataset 'gdt.taxpayers'"),
              std::string::npos);
    EXPECT_NE(plan.status().message().find(k.says), std::string::npos)
        << plan.status();
  }
}

TEST(ChangeFeedPlanTest, ReadsChangesWithTheDatasetsFieldPointers) {
  auto page = Plan().ParsePage(R"({"changes": [
      {"position": "p1", "key": "0101", "kind": "insert",
       "values": {"mst": "0101", "name": "Ánh Dương", "secret": "never"},
       "commit_time": "2026-12-07T06:00:00.5Z"},
      {"position": "p2", "key": "0101", "kind": "update",
       "values": {"mst": "0101", "name": 12345678901234567890.10},
       "previous": {"mst": "0101", "name": "Ánh Dương"},
       "commit_time": "2026-12-07T13:00:00+07:00"},
      {"position": "p3", "key": "0101", "kind": "delete",
       "previous": {"mst": "0101"}, "commit_time": "2026-12-07T06:00:01Z"},
      {"position": "p4", "key": "0102", "kind": "delete",
       "commit_time": "2026-12-07T06:00:02Z"},
      {"position": "p5", "key": "0102", "kind": "correction",
       "values": {"mst": "0102", "name": null},
       "commit_time": "2026-12-07T06:00:03Z"}],
    "end": "p5"})",
                               All());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 5u);
  const v1::ProviderChange& a = (*page)[0];
  EXPECT_EQ(a.position(), "p1");
  EXPECT_EQ(a.key(), "0101");
  EXPECT_EQ(a.kind(), v1::CHANGE_KIND_INSERT);
  EXPECT_EQ(a.values().values(0), "0101");
  EXPECT_EQ(a.values().values(1), "Ánh Dương");
  EXPECT_EQ(a.SerializeAsString().find("never"), std::string::npos);
  EXPECT_EQ(a.commit_time().nanos(), 500000000);
  EXPECT_EQ(a.previous_values().values_size(), 0);
  const v1::ProviderChange& b = (*page)[1];
  EXPECT_EQ(b.kind(), v1::CHANGE_KIND_UPDATE);
  EXPECT_EQ(b.values().values(1), "12345678901234567890.10");  // as written
  EXPECT_EQ(b.previous_values().values(1), "Ánh Dương");
  EXPECT_EQ(b.commit_time().seconds(), a.commit_time().seconds());
  // A delete's record as it was (from previous here) goes in its values:
  // the gateway decides a row filter on it and never sends it.
  const v1::ProviderChange& c = (*page)[2];
  EXPECT_EQ(c.kind(), v1::CHANGE_KIND_DELETE);
  EXPECT_EQ(c.values().values(0), "0101");
  EXPECT_TRUE(IsNull(c.values(), 1));
  EXPECT_EQ(c.previous_values().values_size(), 0);
  EXPECT_EQ((*page)[3].values().values_size(), 0);
  EXPECT_EQ((*page)[4].kind(), v1::CHANGE_KIND_CORRECTION);
  EXPECT_TRUE(IsNull((*page)[4].values(), 1));
  // Only the fields asked, in the order asked.
  v1::RestDataset ds = Dataset();
  google::protobuf::RepeatedPtrField<std::string> names;
  names.Add("name");
  auto one = Plan().ParsePage(
      R"({"changes": [{"position": "p1", "key": "0101", "kind": "insert",
          "values": {"mst": "0101", "name": "x"},
          "commit_time": "2026-12-07T06:00:00Z"}]})",
      *ResolveFields(ds, names));
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ((*one)[0].values().values_size(), 1);
  EXPECT_EQ((*one)[0].values().values(0), "x");
  auto empty = Plan().ParsePage(R"({"changes": []})", All());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ChangeFeedPlanTest, ConfiguredPointersReadAnotherShape) {
  v1::RestDataset ds = Dataset();
  auto* c = ds.mutable_change_feed();
  c->set_changes_pointer("/data/items");
  c->set_position_pointer("/cursor");
  c->set_key_pointer("/id/mst");
  c->set_kind_pointer("/op");
  c->set_values_pointer("/after");
  c->set_previous_pointer("/before");
  c->set_commit_time_pointer("/ts");
  auto page = Plan(ds).ParsePage(
      R"({"data": {"items": [{"cursor": "c9", "id": {"mst": "0101"},
          "op": "update", "after": {"mst": "0101", "name": "b"},
          "before": {"mst": "0101", "name": "a"},
          "ts": "2026-12-07T06:00:00Z"}]}})",
      All(ds));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ((*page)[0].position(), "c9");
  EXPECT_EQ((*page)[0].key(), "0101");
  EXPECT_EQ((*page)[0].values().values(1), "b");
  EXPECT_EQ((*page)[0].previous_values().values(1), "a");
}

TEST(ChangeFeedPlanTest, EveryBreachOfTheConventionIsNamed) {
  const std::string time = R"("commit_time": "2026-12-07T06:00:00Z")";
  const std::string values = R"("values": {"mst": "1"})";
  struct Case {
    std::string body;
    const char* says;
  } cases[] = {
      {"", "not JSON"},
      {"<html>", "not JSON"},
      {R"({"changes": [)", "not JSON"},
      {R"({"items": []})", "no records at '/changes'"},
      {R"({"changes": {"position": "p"}})", "not an array of changes"},
      {R"({"changes": "x"})", "no records"},
      {R"({"changes": [{"key": "k", "kind": "insert", )" + values + ", " +
           time + "}]}",
       "change 0: \"position\""},
      {R"({"changes": [{"position": 7, "key": "k", "kind": "insert", )" +
           values + ", " + time + "}]}",
       "change 0: \"position\""},
      {R"({"changes": [{"position": "", "key": "k", "kind": "insert", )" +
           values + ", " + time + "}]}",
       "non-empty string"},
      {R"({"changes": [{"position": ")" + std::string(1025, 'p') +
           R"(", "key": "k", "kind": "insert", )" + values + ", " + time +
           "}]}",
       "at most 1024 bytes"},
      {R"({"changes": [{"position": "p", "kind": "insert", )" + values + ", " +
           time + "}]}",
       "(position 'p'): \"key\""},
      {R"({"changes": [{"position": "p", "key": 5, "kind": "insert", )" +
           values + ", " + time + "}]}",
       "\"key\""},
      {R"({"changes": [{"position": "p", "key": "k", )" + values + ", " + time +
           "}]}",
       "\"kind\" (/kind) must be a string"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "upsert", )" +
           values + ", " + time + "}]}",
       "'upsert' is not insert, update, delete or correction"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "snapshot", )" +
           values + ", " + time + "}]}",
       "is not insert"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "insert", )" +
           values + "}]}",
       "\"commit_time\""},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "insert", )" +
           values + R"(, "commit_time": "yesterday"}]})",
       "RFC 3339"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "insert", )" +
           time + "}]}",
       "\"values\" (/values) must be an object for an insert"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "update", )"
       R"("values": ["1"], )" +
           time + "}]}",
       "\"values\" (/values) must be an object"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "update", )" +
           values + R"(, "previous": "x", )" + time + "}]}",
       "\"previous\" (/previous) must be an object"},
      {R"({"changes": [{"position": "p", "key": "k", "kind": "insert", )" +
           values + R"(, "previous": {"mst": "0"}, )" + time + "}]}",
       "not an insert"},
      {R"({"changes": [)" + std::string(100, '[') + "]}",
       "nests deeper than 64"},
  };
  for (const Case& k : cases) {
    auto page = Plan().ParsePage(k.body, All());
    ASSERT_FALSE(page.ok()) << k.body;
    EXPECT_EQ(page.status().code(), absl::StatusCode::kFailedPrecondition)
        << page.status();
    EXPECT_NE(page.status().message().find(
                  "dataset 'gdt.taxpayers': the change endpoint "
                  "https://api.example/v1/changes breaks"),
              std::string::npos)
        << page.status();
    EXPECT_NE(page.status().message().find(k.says), std::string::npos)
        << k.says << " in: " << page.status();
  }
}

TEST(ChangeFeedPlanTest, BoundsComeFromTheAnswerToLimitZero) {
  auto bounds =
      Plan().ParseBounds(R"({"changes": [], "start": "0", "end": "42"})");
  ASSERT_TRUE(bounds.ok()) << bounds.status();
  EXPECT_EQ(bounds->start, "0");
  EXPECT_EQ(bounds->end, "42");
  for (const char* body :
       {R"({"changes": [], "end": "42"})", R"({"changes": [], "start": "0"})",
        R"({"changes": [], "start": 0, "end": "42"})",
        R"({"changes": [], "start": "", "end": "42"})",
        R"({"start": "0", "end": "42"})", "nonsense"}) {
    auto b = Plan().ParseBounds(body);
    ASSERT_FALSE(b.ok()) << body;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(b.status().message().find("answer to limit=0"), std::string::npos)
        << b.status();
  }
}

}  // namespace
}  // namespace dx::adapters
