#include "adapters/sql/change_feed_plan.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "adapters/sql/sql_query.h"

namespace dx::adapters {
namespace {

// The advisory lock's first key: dxgate's change-feed sequencers. The
// second is a hash of the outbox's name, so the outboxes of one database
// are stamped independently. Any number; fixed forever (replicas of
// different versions must take the same lock).
constexpr int32_t kLockClass = 0x6478;  // "dx"

// PostgreSQL truncates names at 63 bytes (NAMEDATALEN - 1): the derived
// names (<name>_unstamped, the longest suffix) must fit whole.
constexpr size_t kMaxNameBytes = 63;
constexpr size_t kMaxSuffixBytes = 10;

// A '...' literal: quotes doubled (standard_conforming_strings is on).
std::string Literal(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

// FNV-1a, folded to 31 bits: stable across builds, platforms and versions
// (std::hash is not), so that every replica takes the same lock.
int32_t StableHash(absl::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return static_cast<int32_t>(h & 0x7fffffff);
}

// "a.b" -> quoted "a"."b" with `suffix` on the last part.
absl::StatusOr<std::string> QuoteQualified(absl::string_view name,
                                           absl::string_view suffix = "") {
  std::vector<std::string> parts = absl::StrSplit(name, '.');
  if (parts.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is not a table or schema.table name"));
  }
  parts.back() += std::string(suffix);
  std::vector<std::string> quoted;
  for (const std::string& p : parts) {
    auto q = QuoteIdentifier(p);
    if (!q.ok()) return q.status();
    quoted.push_back(*std::move(q));
  }
  return absl::StrJoin(quoted, ".");
}

}  // namespace

absl::StatusOr<int64_t> ParseFeedPosition(absl::string_view position) {
  int64_t value = 0;
  const bool digits = !position.empty() && position.size() <= 19 &&
                      std::all_of(position.begin(), position.end(), [](char c) {
                        return absl::ascii_isdigit(c);
                      });
  if (!digits || !absl::SimpleAtoi(position, &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "after_position '", position.substr(0, 40),
        "' is not a position of this change feed (a decimal sequence number "
        "the adapter sent); resume from a position this feed gave"));
  }
  return value;
}

std::string FormatSnapshotPosition(const SnapshotPosition& p) {
  std::string out = absl::StrCat(kSnapshotPrefix, p.feed);
  if (p.has_key) absl::StrAppend(&out, ":", p.last_key);
  return out;
}

absl::StatusOr<SnapshotPosition> ParseSnapshotPosition(
    absl::string_view position) {
  auto bad = [&]() {
    // The position is not echoed: its key part may name a record.
    return absl::InvalidArgumentError(
        "after_position is not a snapshot position of this change feed "
        "(snapshot:<position>[:<key of at most 4096 bytes>]); resume from a "
        "position this feed gave");
  };
  if (!absl::ConsumePrefix(&position, kSnapshotPrefix)) return bad();
  SnapshotPosition p;
  const size_t colon = position.find(':');
  auto feed = ParseFeedPosition(position.substr(0, colon));
  if (!feed.ok()) return bad();
  p.feed = *feed;
  if (colon != absl::string_view::npos) {
    p.has_key = true;
    p.last_key = std::string(position.substr(colon + 1));
    if (p.last_key.size() > kMaxSnapshotKeyBytes) return bad();
  }
  return p;
}

absl::StatusOr<ChangeFeedPlan> ChangeFeedPlan::Compile(
    const v1::SqlDataset& dataset) {
  const v1::SqlChangeFeed& feed = dataset.change_feed();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset '", dataset.dataset_id(), "': change_feed: ", what));
  };
  ChangeFeedPlan plan;
  plan.dataset_id_ = dataset.dataset_id();
  const std::string& outbox = feed.outbox_table();
  if (outbox.empty()) return bad("outbox_table is required");
  if (outbox.size() > kMaxNameBytes) {
    return bad(absl::StrCat("outbox_table '", outbox, "' is longer than ",
                            kMaxNameBytes, " bytes"));
  }
  const std::string last_part =
      std::vector<std::string>(absl::StrSplit(outbox, '.')).back();
  if (last_part.size() + kMaxSuffixBytes > kMaxNameBytes) {
    return bad(absl::StrCat("outbox_table's name '", last_part,
                            "' is longer than ",
                            kMaxNameBytes - kMaxSuffixBytes,
                            " bytes (the names made from it must fit 63)"));
  }
  // The trigger function runs as the table's owner (SECURITY DEFINER) with
  // search_path pg_catalog, pg_temp: an unqualified outbox would be looked
  // up in pg_temp, where any writer can create a table of that name (and
  // a trigger on it that then runs as the owner). One spelling also gives
  // every replica the same advisory lock.
  if (!absl::StrContains(outbox, ".")) {
    return bad(absl::StrCat("outbox_table '", outbox,
                            "' must name its schema (\"registry.", outbox,
                            "\"): the capture trigger runs as the table's "
                            "owner and resolves no unqualified name"));
  }
  // Names are printed into the DDL, some in comments: no line breaks or
  // other control characters, which could end a comment.
  for (absl::string_view name :
       {absl::string_view(outbox), absl::string_view(dataset.table()),
        absl::string_view(dataset.dataset_id())}) {
    if (std::any_of(name.begin(), name.end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        })) {
      return bad(
          "table, outbox and dataset names must hold no control "
          "characters (line breaks, tabs)");
    }
  }
  for (const auto& f : dataset.fields()) {
    const std::string& col = f.column().empty() ? f.name() : f.column();
    if (std::any_of(col.begin(), col.end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        })) {
      return bad("column names must hold no control characters");
    }
  }
  // The trigger function's body is dollar-quoted.
  if (absl::StrContains(outbox, "$") ||
      absl::StrContains(dataset.table(), "$")) {
    return bad("table names with '$' are not supported for change feeds");
  }
  struct Named {
    std::string* out;
    absl::string_view name;
    absl::string_view suffix;
  };
  for (const Named& n : {Named{&plan.source_, dataset.table(), ""},
                         Named{&plan.outbox_, outbox, ""},
                         Named{&plan.sequence_, outbox, "_seq"},
                         Named{&plan.pruned_, outbox, "_pruned"},
                         Named{&plan.function_, outbox, "_capture"},
                         Named{&plan.notify_function_, outbox, "_notify"}}) {
    auto q = QuoteQualified(n.name, n.suffix);
    if (!q.ok()) return bad(q.status().message());
    *n.out = *std::move(q);
  }
  plan.trigger_ = *QuoteIdentifier(last_part + "_capture");
  plan.index_ = *QuoteIdentifier(last_part + "_unstamped");
  plan.notify_trigger_ = *QuoteIdentifier(last_part + "_notify");
  plan.truncate_trigger_ = *QuoteIdentifier(last_part + "_trunc");
  plan.channel_ = outbox;
  plan.lock_key_ = StableHash(outbox);
  for (const auto& f : dataset.fields()) {
    plan.fields_.emplace_back(f.name(),
                              f.column().empty() ? f.name() : f.column());
  }
  for (const auto& [name, column] : plan.fields_) {
    if (!QuoteIdentifier(column).ok() || absl::StrContains(column, "$")) {
      return bad(absl::StrCat("field '", name, "': no usable column"));
    }
  }
  if (feed.key_field().empty()) return bad("key_field is required");
  for (const auto& [name, column] : plan.fields_) {
    if (name == feed.key_field()) plan.key_name_ = column;
  }
  if (plan.key_name_.empty()) {
    return bad(absl::StrCat("key_field '", feed.key_field(),
                            "' is not a field of the dataset"));
  }
  plan.key_column_ = *QuoteIdentifier(plan.key_name_);
  plan.keep_ = absl::Hours(feed.keep_hours() == 0 ? 168 : feed.keep_hours());
  if (feed.max_feeds() != 0)
    plan.max_feeds_ = static_cast<int>(feed.max_feeds());
  return plan;
}

std::string ChangeFeedPlan::Ddl(absl::string_view reader_role) const {
  // The row's values travel as jsonb (to_jsonb(NEW)) and are typed again by
  // the reader (jsonb_populate_record with the table's row type), so that
  // they come out formatted as Fetch formats them. The record as it was
  // (to_jsonb(OLD)) is kept too: in `row` for a delete and in `previous`
  // for an update, so that the gateway can tell a consumer under a row
  // filter that a record it held was deleted or left its rows; the gateway
  // never sends those values. It costs the old values' bytes in the outbox
  // for keep_hours, values the table itself held. The change's time is
  // clock_timestamp(): the moment of the change itself, the closest to
  // the commit a trigger can see; now() is the transaction's start, which
  // for a long transaction can be minutes before its commit.
  std::string ddl = absl::StrCat(
      "-- Change feed of dataset ", dataset_id_,
      " (dx-sql-adapter --print-change-feed-ddl). Run once, as the owner of ",
      source_, ".\nBEGIN;\n", "CREATE TABLE ", outbox_, " (\n",
      "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n",
      "  seq bigint UNIQUE,  -- NULL until the adapter's sequencer stamps it\n",
      "  key text NOT NULL,\n",
      "  kind text NOT NULL CHECK (kind IN "
      "('insert', 'update', 'delete', 'correction')),\n",
      "  row jsonb,\n", "  previous jsonb,  -- an update's record as it was\n",
      "  committed_at timestamptz NOT NULL DEFAULT clock_timestamp());\n",
      "CREATE INDEX ", index_, " ON ", outbox_, " (id) WHERE seq IS NULL;\n",
      "CREATE SEQUENCE ", sequence_, ";\n",
      "-- Changes up to `through` were pruned: a consumer behind it must "
      "resynchronise.\n",
      "CREATE TABLE ", pruned_, " (through bigint NOT NULL);\n", "INSERT INTO ",
      pruned_, " VALUES (0);\n", "CREATE FUNCTION ", function_,
      "() RETURNS trigger\n",
      "  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "
      "pg_temp AS $dxfeed$\n",
      "BEGIN\n", "  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.",
      key_column_, " IS DISTINCT FROM NEW.", key_column_, ") THEN\n",
      "    INSERT INTO ", outbox_, " (key, kind, row) VALUES (OLD.",
      key_column_, "::text, 'delete', to_jsonb(OLD));\n", "  END IF;\n",
      "  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.", key_column_,
      " IS DISTINCT FROM NEW.", key_column_, ") THEN\n", "    INSERT INTO ",
      outbox_, " (key, kind, row) VALUES (NEW.", key_column_,
      "::text, 'insert', to_jsonb(NEW));\n", "  ELSIF TG_OP = 'UPDATE' THEN\n",
      "    INSERT INTO ", outbox_, " (key, kind, row, previous) VALUES (NEW.",
      key_column_, "::text, 'update', to_jsonb(NEW), to_jsonb(OLD));\n",
      "  END IF;\n", "  RETURN NULL;\n", "END $dxfeed$;\n",
      "REVOKE ALL ON FUNCTION ", function_, "() FROM PUBLIC;\n",
      "CREATE TRIGGER ", trigger_, " AFTER INSERT OR UPDATE OR DELETE ON ",
      source_, " FOR EACH ROW EXECUTE FUNCTION ", function_, "();\n",
      // Once per statement, not per row (a 100,000-row insert: 1.76 s
      // instead of 2.70 s); PostgreSQL delivers it at commit. TRUNCATE fires no
      // row trigger: it would empty the table behind the feed, so it is
      // refused.
      "CREATE FUNCTION ", notify_function_, "() RETURNS trigger\n",
      "  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "
      "pg_temp AS $dxfeed$\n",
      "BEGIN\n", "  IF TG_OP = 'TRUNCATE' THEN\n",
      "    RAISE EXCEPTION 'TRUNCATE of % would bypass its change feed; DELETE "
      "instead', TG_TABLE_NAME;\n",
      "  END IF;\n", "  PERFORM pg_notify(", Literal(channel_), ", '');\n",
      "  RETURN NULL;\n", "END $dxfeed$;\n", "REVOKE ALL ON FUNCTION ",
      notify_function_, "() FROM PUBLIC;\n", "CREATE TRIGGER ", notify_trigger_,
      " AFTER INSERT OR UPDATE OR DELETE ON ", source_,
      " FOR EACH STATEMENT EXECUTE FUNCTION ", notify_function_, "();\n",
      "CREATE TRIGGER ", truncate_trigger_, " BEFORE TRUNCATE ON ", source_,
      " FOR EACH STATEMENT EXECUTE FUNCTION ", notify_function_, "();\n");
  if (!reader_role.empty()) {
    const std::string role = *QuoteIdentifier(reader_role);
    absl::StrAppend(&ddl, "-- The adapter's role stamps, reads and prunes.\n",
                    "GRANT SELECT, UPDATE, DELETE ON ", outbox_, " TO ", role,
                    ";\n", "GRANT SELECT, UPDATE ON ", pruned_, " TO ", role,
                    ";\n", "GRANT USAGE ON SEQUENCE ", sequence_, " TO ", role,
                    ";\n");
  } else {
    absl::StrAppend(
        &ddl, "-- Grant the adapter's role SELECT, UPDATE, DELETE on ", outbox_,
        ", SELECT, UPDATE on ", pruned_, " and USAGE on ", sequence_, ".\n");
  }
  absl::StrAppend(&ddl, "COMMIT;\n");
  return ddl;
}

std::string ChangeFeedPlan::LockStatement() const {
  return absl::StrCat("SELECT pg_advisory_xact_lock(", kLockClass, ", ",
                      lock_key_, ")");
}

std::string ChangeFeedPlan::StampStatement() const {
  // nextval runs over the rows sorted by id (a subquery with ORDER BY is
  // not flattened), so stamps follow insertion order within a round; the
  // limit bounds one transaction's work (the caller stamps again while a
  // round was full).
  return absl::StrCat(
      "UPDATE ", outbox_, " o SET seq = s.n FROM (SELECT id, nextval(",
      Literal(sequence_), "::regclass) AS n FROM (SELECT id FROM ", outbox_,
      " WHERE seq IS NULL ORDER BY id LIMIT 10000) q) s WHERE o.id = s.id");
}

absl::StatusOr<std::string> ChangeFeedPlan::ReadStatement(
    const std::vector<std::string>& fields) const {
  std::vector<std::string> select = {
      "o.seq", "o.key", "o.kind",
      "(extract(epoch FROM o.committed_at) * 1000000)::bigint",
      "o.previous IS NOT NULL"};
  std::vector<std::string> previous;
  for (const std::string& f : fields) {
    const std::string* column = nullptr;
    for (const auto& [name, col] : fields_) {
      if (name == f) column = &col;
    }
    if (column == nullptr) {
      std::vector<std::string> known;
      for (const auto& [name, col] : fields_) known.push_back(name);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field '", f, "' of dataset ", dataset_id_,
                       " (known: ", absl::StrJoin(known, ", "), ")"));
    }
    select.push_back(absl::StrCat("r.", *QuoteIdentifier(*column)));
    previous.push_back(absl::StrCat("p.", *QuoteIdentifier(*column)));
  }
  for (auto& p : previous) select.push_back(std::move(p));
  return absl::StrCat(
      "SELECT ", absl::StrJoin(select, ", "), " FROM ", outbox_,
      " o LEFT JOIN LATERAL jsonb_populate_record(NULL::", source_,
      ", o.row) r ON true LEFT JOIN LATERAL jsonb_populate_record(NULL::",
      source_,
      ", o.previous) p ON o.previous IS NOT NULL WHERE o.seq > $1::bigint "
      "ORDER BY o.seq LIMIT $2::integer");
}

absl::StatusOr<std::string> ChangeFeedPlan::SnapshotStatement(
    const std::vector<std::string>& fields, bool after_key) const {
  std::vector<std::string> select = {absl::StrCat(key_column_, "::text")};
  for (const std::string& f : fields) {
    const std::string* column = nullptr;
    for (const auto& [name, col] : fields_) {
      if (name == f) column = &col;
    }
    if (column == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field '", f, "' of dataset ", dataset_id_));
    }
    select.push_back(*QuoteIdentifier(*column));
  }
  // $1 is untyped: PostgreSQL types it as the key column, so the key is
  // compared (and ordered) as the table stores it, on its index.
  return absl::StrCat("SELECT ", absl::StrJoin(select, ", "), " FROM ", source_,
                      " WHERE ", key_column_,
                      after_key ? " > $1" : " IS NOT NULL", " ORDER BY ",
                      key_column_, " LIMIT $", after_key ? 2 : 1, "::integer");
}

std::string ChangeFeedPlan::HorizonStatement() const {
  return absl::StrCat("SELECT max(through) FROM ", pruned_);
}

std::string ChangeFeedPlan::EndStatement() const {
  return absl::StrCat("SELECT GREATEST((SELECT max(seq) FROM ", outbox_,
                      "), (SELECT max(through) FROM ", pruned_, "), 0)");
}

std::string ChangeFeedPlan::PruneStatement() const {
  // The oldest kPruneRound old rows by seq decide the cut; everything up to
  // it goes (a prefix in seq order, so the horizon is exact). Bounded, so
  // a week's backlog is deleted in rounds within statement_timeout.
  return absl::StrCat(
      "WITH cut AS (SELECT max(seq) AS s FROM (SELECT seq FROM ", outbox_,
      " WHERE seq IS NOT NULL AND committed_at < now() - interval '",
      absl::ToInt64Seconds(keep_), " seconds' ORDER BY seq LIMIT ", kPruneRound,
      ") q), horizon AS (UPDATE ", pruned_,
      " SET through = GREATEST(through, (SELECT s FROM cut)) WHERE (SELECT s "
      "FROM cut) IS NOT NULL RETURNING through) DELETE FROM ",
      outbox_, " WHERE seq <= (SELECT s FROM cut)");
}

std::string ChangeFeedPlan::ListenStatement() const {
  return absl::StrCat("LISTEN ", *QuoteIdentifier(channel_));
}

}  // namespace dx::adapters
