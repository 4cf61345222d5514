#include "gateway/record_filter.h"

#include <gtest/gtest.h>

#include "common/records.h"

namespace dx::gateway {
namespace {

v1::RecordBatch Batch() {
  v1::RecordBatch b;
  for (const char* c : {"id", "name", "secret"}) b.add_columns(c);
  for (int i = 0; i < 3; ++i) {
    auto* r = b.add_rows();
    r->add_values("id" + std::to_string(i));
    r->add_values("name" + std::to_string(i));
    r->add_values("s" + std::to_string(i));
  }
  return b;
}

TEST(RecordFilterTest, DropsColumnsNotAllowedEvenIfAdapterSentThem) {
  v1::RecordBatch out;
  EXPECT_EQ(ProjectBatch(Batch(), {"name", "id"}, 0, &out), 3u);
  ASSERT_EQ(out.columns_size(), 2);
  EXPECT_EQ(out.columns(0), "name");
  EXPECT_EQ(out.columns(1), "id");
  EXPECT_EQ(out.rows(2).values(0), "name2");
  EXPECT_EQ(out.rows(2).values_size(), 2);
  EXPECT_EQ(out.SerializeAsString().find("s1"), std::string::npos);
}

TEST(RecordFilterTest, MissingColumnsAreLeftOutAndRowsLimited) {
  v1::RecordBatch out;
  EXPECT_EQ(ProjectBatch(Batch(), {"id", "birth_date"}, 2, &out), 2u);
  ASSERT_EQ(out.columns_size(), 1);
  EXPECT_EQ(out.rows_size(), 2);
}

TEST(RecordFilterTest, ShortRowsArePaddedWithMissingValues) {
  v1::RecordBatch in = Batch();
  in.mutable_rows(0)->mutable_values()->RemoveLast();
  v1::RecordBatch out;
  ProjectBatch(in, {"secret", "id"}, 0, &out);
  EXPECT_EQ(out.rows(0).values(0), "");
  EXPECT_TRUE(IsNull(out.rows(0), 0));
  EXPECT_EQ(out.rows(0).values(1), "id0");
  EXPECT_FALSE(IsNull(out.rows(0), 1));
}

TEST(RecordFilterTest, MissingValuesFollowTheirColumns) {
  v1::RecordBatch in = Batch();
  v1::Row* r = in.mutable_rows(1);
  r->set_values(1, "");
  r->add_nulls(1);                        // name1 is missing
  in.mutable_rows(2)->set_values(0, "");  // an empty id, not a missing one
  v1::RecordBatch out;
  ProjectBatch(in, {"secret", "name", "id"}, 0, &out);
  EXPECT_FALSE(IsNull(out.rows(1), 0));
  EXPECT_TRUE(IsNull(out.rows(1), 1));
  EXPECT_FALSE(IsNull(out.rows(1), 2));
  EXPECT_EQ(out.rows(2).values(2), "");
  EXPECT_FALSE(IsNull(out.rows(2), 2));
  EXPECT_EQ(out.rows(0).nulls_size(), 0);
  // Projected away with its column, the null goes too.
  ProjectBatch(in, {"id"}, 0, &out);
  EXPECT_EQ(out.rows(1).nulls_size(), 0);
}

TEST(RecordFilterTest, ExactBatchWithNullsMovesOnlyWhenTheyAreWellFormed) {
  v1::RecordBatch good = Batch();
  good.mutable_rows(0)->set_values(2, "");
  good.mutable_rows(0)->add_nulls(2);
  v1::RecordBatch out;
  TakeProjected(&good, {"id", "name", "secret"}, 0, &out);
  EXPECT_EQ(good.rows_size(), 0);  // moved
  EXPECT_TRUE(IsNull(out.rows(0), 2));
  // A null index past the row, or on a non-empty value: rebuilt, not moved.
  v1::RecordBatch bad = Batch();
  bad.mutable_rows(0)->add_nulls(9);
  bad.mutable_rows(1)->add_nulls(0);
  TakeProjected(&bad, {"id", "name", "secret"}, 0, &out);
  EXPECT_EQ(bad.rows_size(), 3);  // copied
  EXPECT_EQ(out.rows(0).nulls_size(), 0);
  EXPECT_TRUE(IsNull(out.rows(1), 0));
  EXPECT_EQ(out.rows(1).values(0), "");  // the value said missing is not sent
}

}  // namespace
}  // namespace dx::gateway

namespace dx::gateway {
namespace {

TEST(RecordFilterTest, TakeProjectedMovesAnExactBatchAndFiltersOthers) {
  v1::RecordBatch exact = Batch();
  v1::RecordBatch out;
  EXPECT_EQ(TakeProjected(&exact, {"id", "name", "secret"}, 0, &out), 3u);
  EXPECT_EQ(out.rows(1).values(2), "s1");
  EXPECT_EQ(exact.rows_size(), 0);  // moved, not copied
  // More columns than allowed: projected, never leaked.
  v1::RecordBatch wide = Batch();
  EXPECT_EQ(TakeProjected(&wide, {"id", "name"}, 0, &out), 3u);
  EXPECT_EQ(out.columns_size(), 2);
  EXPECT_EQ(out.SerializeAsString().find("s1"), std::string::npos);
  // Same columns but a row too long: projected (the extra value dropped).
  v1::RecordBatch ragged = Batch();
  ragged.mutable_rows(0)->add_values("smuggled");
  TakeProjected(&ragged, {"id", "name", "secret"}, 0, &out);
  EXPECT_EQ(out.SerializeAsString().find("smuggled"), std::string::npos);
  // More rows than the limit: cut.
  v1::RecordBatch many = Batch();
  EXPECT_EQ(TakeProjected(&many, {"id", "name", "secret"}, 2, &out), 2u);
}

}  // namespace
}  // namespace dx::gateway

namespace dx::gateway {
namespace {

v1::RawRecordBatch Raw(const v1::RecordBatch& b) {
  v1::RawRecordBatch raw;
  EXPECT_TRUE(raw.ParseFromString(b.SerializeAsString()));  // same wire format
  return raw;
}

TEST(RecordFilterTest, RawBatchesPassOnlyWhenExact) {
  v1::RawRecordBatch in = Raw(Batch()), out;
  auto n = TakeProjectedRaw(&in, {"id", "name", "secret"}, 0, &out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(in.rows_size(), 0);  // moved
  v1::RecordBatch back;
  ASSERT_TRUE(back.ParseFromString(out.SerializeAsString()));
  EXPECT_EQ(back.rows(2).values(1), "name2");
  // Fewer allowed columns: decoded and projected.
  in = Raw(Batch());
  ASSERT_TRUE(TakeProjectedRaw(&in, {"name"}, 0, &out).ok());
  ASSERT_TRUE(back.ParseFromString(out.SerializeAsString()));
  EXPECT_EQ(back.columns_size(), 1);
  EXPECT_EQ(back.rows(0).values_size(), 1);
  EXPECT_EQ(out.SerializeAsString().find("s0"), std::string::npos);
  // A row with an extra value or an unknown field is projected, not passed.
  v1::RecordBatch extra = Batch();
  extra.mutable_rows(1)->add_values("smuggled");
  in = Raw(extra);
  ASSERT_TRUE(TakeProjectedRaw(&in, {"id", "name", "secret"}, 0, &out).ok());
  EXPECT_EQ(out.SerializeAsString().find("smuggled"), std::string::npos);
  in = Raw(Batch());
  in.mutable_rows(0)->append("\x10\x01");  // field 2, varint
  ASSERT_TRUE(TakeProjectedRaw(&in, {"id", "name", "secret"}, 0, &out).ok());
  ASSERT_TRUE(back.ParseFromString(out.SerializeAsString()));
  EXPECT_EQ(back.rows(0).values_size(), 3);
  // Nulls on empty values pass as they are, packed or one by one.
  v1::RecordBatch with_nulls = Batch();
  with_nulls.mutable_rows(0)->set_values(1, "");
  with_nulls.mutable_rows(0)->add_nulls(1);  // packed
  in = Raw(with_nulls);
  v1::Row one_by_one;
  for (const char* v : {"id1", "", "s1"}) one_by_one.add_values(v);
  in.set_rows(1, one_by_one.SerializeAsString() + "\x10\x01");  // null 1
  out.Clear();
  ASSERT_TRUE(TakeProjectedRaw(&in, {"id", "name", "secret"}, 0, &out).ok());
  EXPECT_EQ(in.rows_size(), 0);  // moved
  ASSERT_TRUE(back.ParseFromString(out.SerializeAsString()));
  EXPECT_TRUE(IsNull(back.rows(0), 1));
  EXPECT_TRUE(IsNull(back.rows(1), 1));
  EXPECT_FALSE(IsNull(back.rows(2), 1));
  // A null on a non-empty value is rebuilt: the value is not sent.
  in = Raw(Batch());
  in.mutable_rows(2)->append("\x10\x01");
  out.Clear();
  ASSERT_TRUE(TakeProjectedRaw(&in, {"id", "name", "secret"}, 0, &out).ok());
  EXPECT_EQ(in.rows_size(), 3);  // not moved
  EXPECT_EQ(out.SerializeAsString().find("name2"), std::string::npos);
  // The row limit applies.
  in = Raw(Batch());
  EXPECT_EQ(*TakeProjectedRaw(&in, {"id", "name", "secret"}, 1, &out), 1u);
}

TEST(RecordFilterTest, RawRowThatDoesNotDecodeIsDataLoss) {
  v1::RawRecordBatch in = Raw(Batch()), out;
  in.set_rows(0, std::string("\x0a\x7f", 2));  // length past the end
  auto n = TakeProjectedRaw(&in, {"id", "name", "secret"}, 0, &out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss);
  // Invalid UTF-8 is not passed on either: it goes to the slow path, where
  // decoding a proto3 string field refuses it.
  v1::RawRecordBatch bad = Raw(Batch());
  v1::Row row;
  row.add_values("a");
  row.add_values("b");
  std::string bytes =
      row.SerializeAsString() + std::string("\x0a\x02\xc3\x28", 4);
  bad.set_rows(0, bytes);
  EXPECT_FALSE(TakeProjectedRaw(&bad, {"id", "name", "secret"}, 0, &out).ok());
}

}  // namespace
}  // namespace dx::gateway
