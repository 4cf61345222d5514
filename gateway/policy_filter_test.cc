#include "gateway/policy_filter.h"

#include "common/records.h"
#include "gtest/gtest.h"
#include "policy/masking.h"
#include "policy/row_filter.h"

namespace dx::gateway {
namespace {

v1::RecordBatch Batch() {
  v1::RecordBatch b;
  for (const char* c : {"citizen_id", "name", "province_code", "secret"})
    b.add_columns(c);
  auto row = [&](std::vector<std::string> v) {
    auto* r = b.add_rows();
    for (auto& s : v) r->add_values(s);
  };
  row({"001000000001", "An", "031", "x"});
  row({"001000000002", "Bình", "001", "y"});
  row({"001000000003", "Chi", "031", "z"});
  return b;
}

TEST(PolicyFilterTest, FiltersRowsProjectsAndMasks) {
  policy::AccessDecision d;
  d.allowed = true;
  d.fields = {"name", "citizen_id"};
  d.masks = {{"citizen_id", v1::MASK_KIND_PARTIAL, 4}};
  d.row_filter = *policy::RowFilter::Parse("province_code == consumer.p");
  d.filter_consumer_values = {"031"};
  ASSERT_TRUE(NeedsRowWork(d));
  v1::RecordBatch out;
  EXPECT_EQ(ApplyDecision(d, "", Batch(), 0, &out), 2u);
  ASSERT_EQ(out.columns_size(), 2);
  EXPECT_EQ(out.columns(0), "name");
  EXPECT_EQ(out.columns(1), "citizen_id");
  EXPECT_EQ(out.rows(0).values(0), "An");
  EXPECT_EQ(out.rows(0).values(1), "********0001");
  EXPECT_EQ(out.rows(1).values(1), "********0003");
  // The filter column and the secret never leave.
  for (const auto& c : out.columns()) {
    EXPECT_NE(c, "province_code");
    EXPECT_NE(c, "secret");
  }
  EXPECT_EQ(ApplyDecision(d, "", Batch(), 1, &out), 1u);  // max_rows
}

TEST(PolicyFilterTest, MissingFilterColumnShowsNothing) {
  policy::AccessDecision d;
  d.fields = {"name"};
  d.row_filter = *policy::RowFilter::Parse("district == 'x' || name != ''");
  v1::RecordBatch out;
  EXPECT_EQ(ApplyDecision(d, "", Batch(), 0, &out), 0u);
  EXPECT_EQ(out.rows_size(), 0);
}

TEST(PolicyFilterTest, MissingValuesAreNotMaskedAndFailFilters) {
  v1::RecordBatch in = Batch();
  in.mutable_rows(0)->set_values(0, "");
  in.mutable_rows(0)->add_nulls(0);  // An's id is missing
  in.mutable_rows(2)->set_values(2, "");
  in.mutable_rows(2)->add_nulls(2);  // Chi's province is missing
  policy::AccessDecision d;
  d.fields = {"citizen_id", "name"};
  d.masks = {{"citizen_id", v1::MASK_KIND_PARTIAL, 4}};
  v1::RecordBatch out;
  EXPECT_EQ(ApplyDecision(d, "", in, 0, &out), 3u);
  EXPECT_TRUE(IsNull(out.rows(0), 0));  // still missing, not "****"
  EXPECT_EQ(out.rows(0).values(0), "");
  EXPECT_EQ(out.rows(1).values(0), "********0002");
  // A filter over a missing value withholds the row, whatever the operator.
  d.row_filter = *policy::RowFilter::Parse("province_code != 'none'");
  EXPECT_EQ(ApplyDecision(d, "", in, 0, &out), 2u);
  EXPECT_EQ(out.rows(1).values(1), "Bình");
  d.row_filter = *policy::RowFilter::Parse("!(province_code == '031')");
  EXPECT_EQ(ApplyDecision(d, "", in, 0, &out), 1u);
}

TEST(PolicyFilterTest, HashMaskUsesTheConsumersKey) {
  policy::AccessDecision d;
  d.fields = {"name"};
  d.masks = {{"name", v1::MASK_KIND_HASH, 0}};
  const std::string key = policy::MaskKeyFor("secret", "000.00.00.H30");
  v1::RecordBatch out;
  ASSERT_EQ(ApplyDecision(d, key, Batch(), 0, &out), 3u);
  EXPECT_EQ(out.rows(0).values(0), policy::MaskValue(d.masks[0], "An", key));
  EXPECT_NE(out.rows(0).values(0), "An");
}

}  // namespace
}  // namespace dx::gateway
