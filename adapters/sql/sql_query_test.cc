// SqlQueryPlan without a database: the statement text comes only from the
// config, request values only travel as parameters, and bad requests are
// refused naming what is wrong. (tests/e2e/sql_adapter_e2e_test.py runs the
// same against a real PostgreSQL.)
#include "adapters/sql/sql_query.h"

#include <gtest/gtest.h>

#include "adapters/sql/sql_source.h"
#include "common/yaml_proto.h"

namespace dx::adapters {
namespace {

v1::SqlDataset Dataset() {
  v1::SqlDataset ds;
  ds.set_dataset_id("bca.population");
  ds.set_table("registry.citizens");
  for (const char* f : {"citizen_id", "full_name", "birth_date", "income"}) {
    ds.add_fields()->set_name(f);
  }
  ds.mutable_fields(1)->set_column("ho_ten");
  auto* id = ds.add_query_keys();
  id->set_field("citizen_id");
  auto* name = ds.add_query_keys();
  name->set_field("full_name");
  name->set_prefix(true);
  auto* born = ds.add_query_keys();
  born->set_field("birth_date");
  born->set_type("date");
  born->set_range(true);
  auto* income = ds.add_query_keys();
  income->set_field("income");
  income->set_type("numeric");
  ds.add_order_by("citizen_id");
  return ds;
}

SqlQueryPlan Plan(const v1::SqlDataset& ds = Dataset()) {
  auto plan = SqlQueryPlan::Compile(ds);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *std::move(plan);
}

TEST(SqlQueryPlanTest, ProjectsOnlyTheAskedFieldsAndParameterisesValues) {
  v1::AdapterRequest req;
  req.add_fields("full_name");
  req.add_fields("citizen_id");
  (*req.mutable_query())["citizen_id"] = "001099000123";
  req.set_max_records(10);
  auto st = Plan().Build(req);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->text,
            "SELECT \"ho_ten\", \"citizen_id\" FROM \"registry\".\"citizens\" "
            "WHERE \"citizen_id\" = $1::text ORDER BY \"citizen_id\" "
            "LIMIT $2::bigint");
  EXPECT_EQ(st->params, (std::vector<std::string>{"001099000123", "11"}));
  EXPECT_EQ(st->fields, (std::vector<std::string>{"full_name", "citizen_id"}));
}

TEST(SqlQueryPlanTest, EveryFieldWhenNoneAskedAndNoLimitWhenNoneSet) {
  auto st = Plan().Build(v1::AdapterRequest());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->text,
            "SELECT \"citizen_id\", \"ho_ten\", \"birth_date\", \"income\" "
            "FROM \"registry\".\"citizens\" ORDER BY \"citizen_id\"");
  EXPECT_TRUE(st->params.empty());
}

TEST(SqlQueryPlanTest, PrefixAndRangeKeysInAStableOrder) {
  v1::AdapterRequest req;
  (*req.mutable_query())["full_name.prefix"] = "Nguy%n_\\";
  (*req.mutable_query())["birth_date.to"] = "1999-12-31";
  (*req.mutable_query())["birth_date.from"] = "1990-01-01";
  auto st = Plan().Build(req);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->text,
            "SELECT \"citizen_id\", \"ho_ten\", \"birth_date\", \"income\" "
            "FROM \"registry\".\"citizens\" WHERE \"birth_date\" >= $1::date "
            "AND \"birth_date\" <= $2::date AND \"ho_ten\" LIKE $3::text "
            "ESCAPE '\\' ORDER BY \"citizen_id\"");
  EXPECT_EQ(st->params, (std::vector<std::string>{"1990-01-01", "1999-12-31",
                                                  "Nguy\\%n\\_\\\\%"}));
}

TEST(SqlQueryPlanTest, HostileValuesNeverReachTheStatementText) {
  const std::vector<std::string> hostile = {"' OR '1'='1",
                                            "1; DROP TABLE citizens; --",
                                            "x' --",
                                            "/* c */",
                                            "%",
                                            "_%_",
                                            "\\",
                                            "\"; SELECT 1; --",
                                            "Nguyễn Văn A 😀",
                                            "$1 OR true",
                                            "1)) OR ((1=1"};
  for (const std::string& v : hostile) {
    v1::AdapterRequest req;
    (*req.mutable_query())["citizen_id"] = v;
    auto st = Plan().Build(req);
    ASSERT_TRUE(st.ok()) << v << ": " << st.status();
    EXPECT_EQ(st->text.find(v), std::string::npos) << v;
    EXPECT_EQ(st->params, std::vector<std::string>{v});
    EXPECT_EQ(st->text,
              "SELECT \"citizen_id\", \"ho_ten\", \"birth_date\", \"income\" "
              "FROM \"registry\".\"citizens\" WHERE \"citizen_id\" = $1::text "
              "ORDER BY \"citizen_id\"");
  }
}

TEST(SqlQueryPlanTest, RefusesWhatTheDatasetDoesNotOffer) {
  auto refused = [](v1::AdapterRequest req) {
    auto st = Plan().Build(req);
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(st.status().message());
  };
  v1::AdapterRequest r1;
  r1.add_fields("salary");
  EXPECT_NE(refused(r1).find("unknown field 'salary'"), std::string::npos);
  v1::AdapterRequest r2;
  (*r2.mutable_query())["province"] = "01";
  const std::string m2 = refused(r2);
  EXPECT_NE(m2.find("unknown query key 'province'"), std::string::npos) << m2;
  EXPECT_NE(m2.find("full_name.prefix"), std::string::npos) << m2;
  v1::AdapterRequest r3;
  (*r3.mutable_query())["citizen_id.prefix"] = "001";  // not allowed there
  EXPECT_NE(refused(r3).find("'citizen_id.prefix'"), std::string::npos);
  v1::AdapterRequest r4;
  (*r4.mutable_query())["birth_date"] = "24/05/1948";
  EXPECT_NE(refused(r4).find("YYYY-MM-DD"), std::string::npos);
  v1::AdapterRequest r5;
  (*r5.mutable_query())["income"] = "1e9";
  EXPECT_NE(refused(r5).find("decimal"), std::string::npos);
  v1::AdapterRequest r6;
  (*r6.mutable_query())["citizen_id"] = std::string("00\0' OR 1=1", 11);
  EXPECT_NE(refused(r6).find("NUL"), std::string::npos);
  v1::AdapterRequest r7;
  (*r7.mutable_query())["citizen_id"] = "\xC3\x28";  // not UTF-8
  EXPECT_NE(refused(r7).find("UTF-8"), std::string::npos);
}

TEST(SqlQueryPlanTest, RequiredKeyMissingIsNamed) {
  v1::SqlDataset ds = Dataset();
  ds.mutable_query_keys(0)->set_required(true);
  v1::AdapterRequest req;
  (*req.mutable_query())["full_name.prefix"] = "Lê";
  auto st = Plan(ds).Build(req);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.status().message().find("'citizen_id' is required"),
            std::string::npos)
      << st.status();
}

TEST(SqlQueryPlanTest, ConfigErrorsNameTheDataset) {
  auto error = [](v1::SqlDataset ds) {
    auto plan = SqlQueryPlan::Compile(ds);
    EXPECT_FALSE(plan.ok());
    return std::string(plan.status().message());
  };
  v1::SqlDataset a = Dataset();
  a.mutable_query_keys(0)->set_field("nope");
  EXPECT_NE(error(a).find("'nope' is not one of the dataset's fields"),
            std::string::npos);
  v1::SqlDataset b = Dataset();
  b.mutable_query_keys(2)->set_type("date-ish");
  EXPECT_NE(error(b).find("unknown type 'date-ish'"), std::string::npos);
  v1::SqlDataset c = Dataset();
  c.mutable_query_keys(2)->set_prefix(true);
  EXPECT_NE(error(c).find("prefix needs type text"), std::string::npos);
  v1::SqlDataset d = Dataset();
  d.set_table("a.b.c");
  EXPECT_NE(error(d).find("bca.population"), std::string::npos);
}

TEST(SqlQueryPlanTest, IdentifiersAreQuoted) {
  EXPECT_EQ(*QuoteIdentifier("ho\"ten"), "\"ho\"\"ten\"");
  EXPECT_FALSE(QuoteIdentifier("").ok());
  EXPECT_FALSE(QuoteIdentifier(std::string("a\0b", 3)).ok());
  EXPECT_EQ(LikePrefixPattern("50%_a\\"), "50\\%\\_a\\\\%");
}

TEST(FormatPgValueTest, DocumentedFormats) {
  auto f = [](unsigned oid, const std::string& s) {
    return FormatPgValue(oid, s.data(), static_cast<int>(s.size()));
  };
  EXPECT_EQ(f(16, "t"), "true");
  EXPECT_EQ(f(16, "f"), "false");
  EXPECT_EQ(f(1114, "2025-07-01 08:30:00.5"), "2025-07-01T08:30:00.5");
  EXPECT_EQ(f(1184, "2025-07-01 08:30:00+00"), "2025-07-01T08:30:00Z");
  EXPECT_EQ(f(1700, "12345678901234567890.000000000001"),
            "12345678901234567890.000000000001");
  EXPECT_EQ(f(1082, "1948-05-24"), "1948-05-24");
  EXPECT_EQ(f(25, "Nguyễn Thị Ánh"), "Nguyễn Thị Ánh");
}

TEST(SqlAdapterConfigTest, DeployExampleLoads) {
  v1::SqlAdapterConfig config;
  ASSERT_TRUE(
      LoadYamlFile(std::string(DX_SOURCE_DIR) + "/deploy/sql-adapter.yaml",
                   &config)
          .ok());
  ASSERT_GT(config.datasets_size(), 0);
  for (const auto& ds : config.datasets()) {
    EXPECT_TRUE(SqlQueryPlan::Compile(ds).ok()) << ds.dataset_id();
  }
}

}  // namespace
}  // namespace dx::adapters
