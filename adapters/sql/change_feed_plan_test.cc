// ChangeFeedPlan alone: positions, the config's checks, the DDL and the
// statements (quoted names, escaped literals, no request value in text).
#include "adapters/sql/change_feed_plan.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace dx::adapters {
namespace {

v1::SqlDataset Dataset() {
  v1::SqlDataset ds;
  ds.set_dataset_id("bca.population");
  ds.set_table("registry.citizens");
  auto* f = ds.add_fields();
  f->set_name("citizen_id");
  f = ds.add_fields();
  f->set_name("full_name");
  f->set_column("ho_ten");
  ds.mutable_change_feed()->set_outbox_table("registry.citizens_outbox");
  ds.mutable_change_feed()->set_key_field("citizen_id");
  return ds;
}

TEST(FeedPosition, AcceptsDecimalSequenceNumbers) {
  EXPECT_EQ(*ParseFeedPosition("0"), 0);
  EXPECT_EQ(*ParseFeedPosition("42"), 42);
  EXPECT_EQ(*ParseFeedPosition("9223372036854775807"), INT64_MAX);
}

TEST(FeedPosition, RefusesAnythingElse) {
  for (const char* bad :
       {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "1.5", "9223372036854775808",
        "99999999999999999999", "7; DELETE FROM x", "abc"}) {
    auto p = ParseFeedPosition(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(p.status().message(), "resume from"))
        << p.status();
  }
}

TEST(ChangeFeedPlan, DdlCreatesOutboxSequenceHorizonTriggerAndGrants) {
  auto plan = ChangeFeedPlan::Compile(Dataset());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string ddl = plan->Ddl("dx_reader");
  for (const char* want :
       {"CREATE TABLE \"registry\".\"citizens_outbox\" (",
        "CREATE SEQUENCE \"registry\".\"citizens_outbox_seq\"",
        "CREATE TABLE \"registry\".\"citizens_outbox_pruned\"",
        "CREATE FUNCTION \"registry\".\"citizens_outbox_capture\"()",
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp",
        "AFTER INSERT OR UPDATE OR DELETE ON \"registry\".\"citizens\"",
        "to_jsonb(NEW)", "'delete', to_jsonb(OLD)",
        "'update', to_jsonb(NEW), to_jsonb(OLD)", "clock_timestamp()",
        "pg_notify('registry.citizens_outbox', '')",
        "FOR EACH STATEMENT EXECUTE FUNCTION "
        "\"registry\".\"citizens_outbox_notify\"()",
        "BEFORE TRUNCATE ON \"registry\".\"citizens\"",
        "GRANT SELECT, UPDATE, DELETE ON \"registry\".\"citizens_outbox\" TO "
        "\"dx_reader\"",
        "GRANT USAGE ON SEQUENCE \"registry\".\"citizens_outbox_seq\"",
        "BEGIN;", "COMMIT;"}) {
    EXPECT_TRUE(absl::StrContains(ddl, want)) << want << "\n" << ddl;
  }
  // No role known: a comment says what to grant, nothing is granted.
  EXPECT_FALSE(absl::StrContains(plan->Ddl(""), "GRANT "));
}

TEST(ChangeFeedPlan, HostileNamesStayQuotedAndEscaped) {
  v1::SqlDataset ds = Dataset();
  ds.mutable_fields(0)->set_column("id\"); DROP TABLE x; --'");
  ds.mutable_change_feed()->set_outbox_table("s.o'ut\"box");
  auto plan = ChangeFeedPlan::Compile(ds);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string ddl = plan->Ddl("r\"x");
  EXPECT_TRUE(absl::StrContains(ddl, "\"id\"\"); DROP TABLE x; --'\""));
  EXPECT_TRUE(absl::StrContains(ddl, "pg_notify('s.o''ut\"box', '')"));
  EXPECT_TRUE(absl::StrContains(ddl, "TO \"r\"\"x\""));
  EXPECT_TRUE(
      absl::StrContains(plan->ListenStatement(), "LISTEN \"s.o'ut\"\"box\""));
  EXPECT_TRUE(
      absl::StrContains(plan->StampStatement(),
                        "nextval('\"s\".\"o''ut\"\"box_seq\"'::regclass)"));
}

TEST(ChangeFeedPlan, RefusesUnusableConfig) {
  auto refused = [](v1::SqlDataset ds, const char* what) {
    auto plan = ChangeFeedPlan::Compile(ds);
    ASSERT_FALSE(plan.ok()) << what;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(plan.status().message(), what))
        << plan.status();
    EXPECT_TRUE(absl::StrContains(plan.status().message(), "bca.population"));
  };
  v1::SqlDataset ds = Dataset();
  ds.mutable_change_feed()->clear_outbox_table();
  refused(ds, "outbox_table is required");
  ds = Dataset();
  ds.mutable_change_feed()->set_key_field("ho_ten");  // a column, not a field
  refused(ds, "key_field 'ho_ten' is not a field");
  ds = Dataset();
  ds.mutable_change_feed()->clear_key_field();
  refused(ds, "key_field is required");
  ds = Dataset();
  ds.mutable_change_feed()->set_outbox_table("a.b.c");
  refused(ds, "not a table or schema.table");
  ds = Dataset();
  ds.mutable_change_feed()->set_outbox_table(std::string(60, 'x'));
  refused(ds, "longer than");
  ds = Dataset();
  ds.mutable_change_feed()->set_outbox_table("s.out$box");
  refused(ds, "'$'");
  // Unqualified: the owner's trigger would look it up in pg_temp.
  ds = Dataset();
  ds.mutable_change_feed()->set_outbox_table("citizens_outbox");
  refused(ds, "must name its schema");
  // A line break would end a comment of the printed DDL.
  ds = Dataset();
  ds.set_dataset_id("bca.population\nDROP TABLE x; --");
  refused(ds, "control characters");
  ds = Dataset();
  ds.mutable_fields(0)->set_column("id\n; DROP TABLE x");
  refused(ds, "control characters");
}

TEST(ChangeFeedPlan, ReadsOnlyTheFieldsAskedInTheirOrder) {
  auto plan = ChangeFeedPlan::Compile(Dataset());
  ASSERT_TRUE(plan.ok());
  auto sql = plan->ReadStatement({"full_name", "citizen_id"});
  ASSERT_TRUE(sql.ok()) << sql.status();
  EXPECT_TRUE(absl::StrContains(
      *sql,
      "r.\"ho_ten\", r.\"citizen_id\", p.\"ho_ten\", p.\"citizen_id\" FROM"))
      << *sql;
  EXPECT_TRUE(absl::StrContains(*sql, "o.seq > $1::bigint ORDER BY o.seq"));
  EXPECT_TRUE(absl::StrContains(*sql, "LIMIT $2::integer"));
  auto unknown = plan->ReadStatement({"ho_ten"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "unknown field"));
}

TEST(SnapshotPosition, RoundTripsWithAndWithoutAKey) {
  for (const SnapshotPosition& p :
       {SnapshotPosition{7, false, ""}, SnapshotPosition{7, true, ""},
        SnapshotPosition{0, true, "001:a:b"},
        SnapshotPosition{42, true, "x"}}) {
    const std::string text = FormatSnapshotPosition(p);
    auto back = ParseSnapshotPosition(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status();
    EXPECT_EQ(back->feed, p.feed) << text;
    EXPECT_EQ(back->has_key, p.has_key) << text;
    EXPECT_EQ(back->last_key, p.last_key) << text;
  }
  EXPECT_EQ(FormatSnapshotPosition({7, false, ""}), "snapshot:7");
  EXPECT_EQ(FormatSnapshotPosition({7, true, "001"}), "snapshot:7:001");
}

TEST(SnapshotPosition, RefusesWhatTheFeedNeverWrote) {
  for (const std::string& bad :
       {std::string("7"), std::string("snapshot:"), std::string("snapshot:x"),
        std::string("snapshot:-1:a"), std::string("Snapshot:7"),
        std::string("snapshot:7") + ":" + std::string(5000, 'k')}) {
    auto p = ParseSnapshotPosition(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ChangeFeedPlan, SnapshotPagesGoInKeyOrderAfterTheLastKey) {
  auto plan = ChangeFeedPlan::Compile(Dataset());
  ASSERT_TRUE(plan.ok());
  auto first = plan->SnapshotStatement({"full_name"}, false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first,
            "SELECT \"citizen_id\"::text, \"ho_ten\" FROM "
            "\"registry\".\"citizens\" WHERE \"citizen_id\" IS NOT NULL "
            "ORDER BY \"citizen_id\" LIMIT $1::integer");
  auto next = plan->SnapshotStatement({"citizen_id"}, true);
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(absl::StrContains(
      *next,
      "WHERE \"citizen_id\" > $1 ORDER BY \"citizen_id\" LIMIT "
      "$2::integer"))
      << *next;
  EXPECT_FALSE(plan->SnapshotStatement({"ho_ten"}, true).ok());
}

TEST(ChangeFeedPlan, RetentionDefaultsToAWeek) {
  auto plan = ChangeFeedPlan::Compile(Dataset());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->keep(), absl::Hours(168));
  EXPECT_TRUE(absl::StrContains(plan->PruneStatement(), "'604800 seconds'"));
  EXPECT_EQ(plan->max_feeds(), 16);
}

}  // namespace
}  // namespace dx::adapters
