#include "adapters/rest/json_records.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/records.h"

namespace dx::adapters {
namespace {

TEST(JsonRecordsTest, FieldsByPointerNumbersAsWrittenNullsMissing) {
  auto page = ParseJsonRecords(
      R"({"data": {"items": [
            {"id": "0101", "amount": 12345678901234567890.10, "n": 7,
             "ok": true, "who": {"ten": "Nguyễn Thị Ánh"}, "note": null,
             "tags": [1, "a"], "secret": "never read"},
            {"id": "0102"}]},
          "links": {"next": "/p2"}})",
      "/data/items",
      {"/id", "/amount", "/n", "/ok", "/who/ten", "/note", "/tags", "/gone"},
      "/links/next");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->rows.size(), 2u);
  const v1::Row& a = page->rows[0];
  EXPECT_EQ(a.values(0), "0101");
  EXPECT_EQ(a.values(1), "12345678901234567890.10");
  EXPECT_EQ(a.values(2), "7");
  EXPECT_EQ(a.values(3), "true");
  EXPECT_EQ(a.values(4), "Nguyễn Thị Ánh");
  EXPECT_TRUE(IsNull(a, 5));
  EXPECT_EQ(a.values(6), "[1,\"a\"]");
  EXPECT_TRUE(IsNull(a, 7));
  EXPECT_EQ(a.SerializeAsString().find("never read"), std::string::npos);
  EXPECT_TRUE(IsNull(page->rows[1], 1));
  EXPECT_EQ(page->next, "/p2");
}

TEST(JsonRecordsTest, OneObjectIsOneRecord) {
  auto page = ParseJsonRecords(R"({"id": "x"})", "", {"/id"}, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->rows[0].values(0), "x");
}

TEST(JsonRecordsTest, BadAnswersAreNamed) {
  auto a = ParseJsonRecords("{\"id\": ", "", {"/id"}, "");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(a.status().message().find("not JSON (at byte"), std::string::npos);
  auto b = ParseJsonRecords(R"({"data": 5})", "/data", {"/id"}, "");
  EXPECT_NE(b.status().message().find("no records at '/data'"),
            std::string::npos);
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto c = ParseJsonRecords(deep, "", {"/id"}, "");
  EXPECT_NE(c.status().message().find("deeper than 64"), std::string::npos)
      << c.status();
}

TEST(JsonRecordsTest, KeepsOnlyTheRecordsAskedForAndCountsTheRest) {
  std::string body = R"({"data": [)";
  for (int i = 0; i < 100000; ++i) {
    absl::StrAppend(&body, i ? "," : "", R"({"id": ")", i, R"("})");
  }
  absl::StrAppend(&body, R"(], "next": "/p2"})");
  auto page = ParseJsonRecords(body, "/data", {"/id"}, "/next", 6);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->rows.size(), 6u);
  EXPECT_EQ(page->rows[5].values(0), "5");
  EXPECT_EQ(page->records_seen, 100000u);
  EXPECT_EQ(page->next, "/p2");  // after the records: still read
}

TEST(JsonRecordsTest, ValuesNobodyAskedForAreNotHeld) {
  // One record with two million values outside its fields, and as many
  // beside the records: read past, never counted against the budget.
  std::string junk = "[";
  for (int i = 0; i < 2000000; ++i) absl::StrAppend(&junk, i ? "," : "", "[]");
  junk += "]";
  const std::string body = absl::StrCat(
      R"({"junk": )", junk, R"(, "data": [{"id": "7", "x": )", junk, R"(}]})");
  auto page = ParseJsonRecords(body, "/data", {"/id"}, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->rows[0].values(0), "7");
}

TEST(JsonRecordsTest, AFieldHoldingMillionsOfValuesIsOverTheBudget) {
  std::string junk = "[";
  for (uint64_t i = 0; i <= kMaxHeldJsonValues; ++i) {
    absl::StrAppend(&junk, i ? "," : "", "0");
  }
  junk += "]";
  auto page = ParseJsonRecords(absl::StrCat(R"([{"big": )", junk, "}]"), "",
                               {"/big"}, "");
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(page.status().message().find("JSON values"), std::string::npos);
}

TEST(JsonRecordsTest, OneObjectIsOneRecordAndPointersUnescape) {
  auto page = ParseJsonRecords(R"({"r": {"a/b": {"c~d": "v"}, "o": 1}})", "/r",
                               {"/a~1b/c~0d", "/o"}, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->rows[0].values(0), "v");
  EXPECT_EQ(page->rows[0].values(1), "1");
  EXPECT_EQ(page->records_seen, 1u);
  EXPECT_EQ(PointerTokens("/a~1b/c~0d"),
            (std::vector<std::string>{"a/b", "c~d"}));
}

TEST(JsonRecordsTest, AnEmptyBodyIsNotJson) {
  auto page = ParseJsonRecords("", "", {"/id"}, "");
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.status().message().find("not JSON"), std::string::npos);
}

}  // namespace
}  // namespace dx::adapters
