#include "adapters/file/file_source.h"

#include <gtest/gtest.h>

#include "common/records.h"

namespace dx::adapters {
namespace {

constexpr char kCsv[] =
    "citizen_id,full_name,province_code,address\n"
    "001000000001,Nguyễn Văn An,001,\"12 Lê Lợi, Hà Nội\"\n"
    "079000000002,\"Trần \"\"Bé\"\" Hà\",079,\"line1\nline2\"\n"
    "001000000003,Lê Thị Mai,001,3 Hai Bà Trưng\r\n";

std::vector<v1::RecordBatch> FetchAll(const FileSource& src,
                                      const v1::AdapterRequest& req,
                                      absl::Status* status = nullptr) {
  std::vector<v1::RecordBatch> out;
  absl::Status s = src.Fetch(req, {}, [&](v1::RecordBatch&& b) {
    out.push_back(std::move(b));
    return true;
  });
  if (status) *status = s;
  return out;
}

TEST(CsvTest, QuotesDoubledQuotesNewlinesAndCrlf) {
  auto rows = ParseCsv(kCsv, "t.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[1][3], "12 Lê Lợi, Hà Nội");
  EXPECT_EQ((*rows)[2][1], "Trần \"Bé\" Hà");
  EXPECT_EQ((*rows)[2][3], "line1\nline2");
  EXPECT_EQ((*rows)[3][3], "3 Hai Bà Trưng");
}

TEST(CsvTest, UnterminatedQuoteNamesTheLine) {
  auto rows = ParseCsv("a,b\n1,\"oops\n", "t.csv");
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("t.csv:"), std::string::npos);
}

TEST(FileSourceTest, RaggedCsvIsRefused) {
  auto src = FileSource::Parse("a,b\n1,2\n3\n", "csv", "t.csv");
  ASSERT_FALSE(src.ok());
  EXPECT_NE(src.status().message().find("record 3"), std::string::npos);
}

TEST(FileSourceTest, KeyLookupWithProjection) {
  auto src = FileSource::Parse(kCsv, "csv", "t.csv");
  ASSERT_TRUE(src.ok());
  v1::AdapterRequest req;
  (*req.mutable_query())["citizen_id"] = "079000000002";
  req.add_fields("full_name");
  auto batches = FetchAll(**src, req);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].columns_size(), 1);
  EXPECT_EQ(batches[0].columns(0), "full_name");
  ASSERT_EQ(batches[0].rows_size(), 1);
  EXPECT_EQ(batches[0].rows(0).values(0), "Trần \"Bé\" Hà");
}

TEST(FileSourceTest, FilterOnOtherColumnBatchesAndLimit) {
  auto src = FileSource::Parse(kCsv, "csv", "t.csv");
  v1::AdapterRequest req;
  (*req.mutable_query())["province_code"] = "001";
  req.set_batch_rows(1);
  auto batches = FetchAll(**src, req);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].rows(0).values(0), "001000000003");
  EXPECT_EQ(batches[0].columns_size(), 4);
  // max_records and one more: the extra row tells that more matched.
  req.set_max_records(1);
  EXPECT_EQ(FetchAll(**src, req).size(), 2u);
  req.set_batch_rows(10);
  auto one = FetchAll(**src, req);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].rows_size(), 2);
}

TEST(FileSourceTest, NoMatchStillSendsTheHeader) {
  auto src = FileSource::Parse(kCsv, "csv", "t.csv");
  v1::AdapterRequest req;
  (*req.mutable_query())["citizen_id"] = "none";
  auto batches = FetchAll(**src, req);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].rows_size(), 0);
  EXPECT_EQ(batches[0].columns_size(), 4);
}

TEST(FileSourceTest, UnknownFieldOrQueryKeyIsInvalidArgument) {
  auto src = FileSource::Parse(kCsv, "csv", "t.csv");
  v1::AdapterRequest req;
  req.add_fields("salary");
  absl::Status s;
  FetchAll(**src, req, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  v1::AdapterRequest q;
  (*q.mutable_query())["salary"] = "1";
  FetchAll(**src, q, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(FileSourceTest, EmitReturningFalseStopsEarly) {
  auto src = FileSource::Parse(kCsv, "csv", "t.csv");
  v1::AdapterRequest req;
  req.set_batch_rows(1);
  int calls = 0;
  ASSERT_TRUE((*src)
                  ->Fetch(req, {},
                          [&](v1::RecordBatch&&) {
                            ++calls;
                            return false;
                          })
                  .ok());
  EXPECT_EQ(calls, 1);
}

TEST(FileSourceTest, JsonLinesWithMixedTypesAndMissingKeys) {
  auto src = FileSource::Parse(
      "{\"code\": \"A1\", \"capital\": 100}\n\n{\"code\": \"B2\", \"active\": "
      "true}\n",
      "jsonl", "b.jsonl");
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ((*src)->row_count(), 2u);
  v1::AdapterRequest req;
  (*req.mutable_query())["code"] = "B2";
  auto batches = FetchAll(**src, req);
  ASSERT_EQ(batches[0].rows_size(), 1);
  // columns: code, capital, active; B2 has no capital: missing, not empty
  EXPECT_EQ(batches[0].rows(0).values(1), "");
  EXPECT_TRUE(IsNull(batches[0].rows(0), 1));
  EXPECT_EQ(batches[0].rows(0).values(2), "true");
  EXPECT_FALSE(IsNull(batches[0].rows(0), 2));
}

TEST(FileSourceTest, JsonNullIsMissingAndAnEmptyStringIsNot) {
  auto src = FileSource::Parse(
      "{\"code\": \"A1\", \"note\": null}\n{\"code\": \"B2\", \"note\": "
      "\"\"}\n",
      "jsonl", "n.jsonl");
  ASSERT_TRUE(src.ok()) << src.status();
  auto batches = FetchAll(**src, v1::AdapterRequest());
  ASSERT_EQ(batches[0].rows_size(), 2);
  EXPECT_TRUE(IsNull(batches[0].rows(0), 1));
  EXPECT_FALSE(IsNull(batches[0].rows(1), 1));
  // Equality never matches a missing value, not even "".
  v1::AdapterRequest req;
  (*req.mutable_query())["note"] = "";
  batches = FetchAll(**src, req);
  ASSERT_EQ(batches[0].rows_size(), 1);
  EXPECT_EQ(batches[0].rows(0).values(0), "B2");
  // CSV has no way to say missing: empty cells are empty values.
  auto csv = FileSource::Parse("code,note\nA1,\n", "csv", "n.csv");
  batches = FetchAll(**csv, v1::AdapterRequest());
  EXPECT_EQ(batches[0].rows(0).nulls_size(), 0);
}

TEST(FileSourceTest, BadJsonLineNamesTheLine) {
  auto src = FileSource::Parse("{\"a\": 1}\n{oops\n", "jsonl", "b.jsonl");
  ASSERT_FALSE(src.ok());
  EXPECT_NE(src.status().message().find("b.jsonl:2"), std::string::npos);
}

}  // namespace
}  // namespace dx::adapters
