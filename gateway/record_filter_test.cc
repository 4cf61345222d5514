#include "gateway/record_filter.h"

#include <gtest/gtest.h>

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

TEST(RecordFilterTest, ShortRowsArePadded) {
  v1::RecordBatch in = Batch();
  in.mutable_rows(0)->mutable_values()->RemoveLast();
  v1::RecordBatch out;
  ProjectBatch(in, {"secret", "id"}, 0, &out);
  EXPECT_EQ(out.rows(0).values(0), "");
  EXPECT_EQ(out.rows(0).values(1), "id0");
}

}  // namespace
}  // namespace dx::gateway
