// A policy test case as a question, and the judgment of its answer.
#include "cli/policy_cases.h"

#include "gtest/gtest.h"

namespace dx::cli {
namespace {

v1::PolicyTestCase Case() {
  v1::PolicyTestCase c;
  c.set_agency("000.00.00.G12");
  c.set_dataset("bca.population");
  c.set_purpose("tax-administration");
  c.add_fields("name");
  c.add_query("citizen_id");
  c.set_with_subject(true);
  c.set_consent("c-1");
  c.set_expect("allow");
  return c;
}

v1::ExplainResponse Allowed(const std::string& rule) {
  v1::ExplainResponse r;
  r.set_allowed(true);
  r.set_rule_id(rule);
  r.add_fields("name");
  return r;
}

TEST(ParseAtTest, Rfc3339OrNothing) {
  EXPECT_EQ(*ParseAt(""), 0);
  EXPECT_EQ(*ParseAt("1970-01-01T00:00:02Z"), 2000000);
  auto bad = ParseAt("tomorrow");
  ASSERT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().message().find("'tomorrow'"), std::string::npos);
}

TEST(ExplainRequestOfTest, AsksWhatTheCaseSays) {
  const v1::ExplainRequest r = ExplainRequestOf(Case(), 42);
  EXPECT_EQ(r.consumer_agency(), "000.00.00.G12");
  EXPECT_EQ(r.dataset(), "bca.population");
  EXPECT_EQ(r.purpose_code(), "tax-administration");
  ASSERT_EQ(r.fields_size(), 1);
  EXPECT_EQ(r.fields(0), "name");
  ASSERT_EQ(r.query_keys_size(), 1);
  EXPECT_TRUE(r.has_data_subject_id());
  EXPECT_EQ(r.consent_reference(), "c-1");
  EXPECT_EQ(r.at_unix_micros(), 42);
}

TEST(CheckCaseTest, PassesOnlyWhenEveryExpectationHolds) {
  v1::PolicyTestCase c = Case();
  EXPECT_EQ(CheckCase(c, Allowed("r1")), "");

  v1::ExplainResponse denied;
  denied.set_allowed(false);
  denied.set_message("no grant");
  denied.set_reason(v1::REASON_POLICY_DENIED);
  EXPECT_EQ(CheckCase(c, denied), "expected allow, got deny (no grant)");

  c.set_rule("r2");
  EXPECT_EQ(CheckCase(c, Allowed("r1")), "expected rule r2, got r1");

  c = Case();
  c.add_expect_fields("name");
  c.add_expect_fields("dob");
  EXPECT_EQ(CheckCase(c, Allowed("r1")),
            "expected fields [name, dob], got [name]");

  c = Case();
  c.add_expect_masks("name");
  EXPECT_EQ(CheckCase(c, Allowed("r1")), "expected masks [name], got []");
}

TEST(CheckCaseTest, AReasonMayBeWrittenShort) {
  v1::PolicyTestCase c = Case();
  c.set_expect("deny");
  v1::ExplainResponse denied;
  denied.set_reason(v1::REASON_POLICY_DENIED);
  c.set_expect_reason("policy_denied");
  EXPECT_EQ(CheckCase(c, denied), "");
  c.set_expect_reason("REASON_POLICY_DENIED");
  EXPECT_EQ(CheckCase(c, denied), "");
  c.set_expect_reason("policy_forbidden");
  EXPECT_NE(CheckCase(c, denied).find("expected reason "
                                      "REASON_POLICY_FORBIDDEN"),
            std::string::npos);
}

}  // namespace
}  // namespace dx::cli
