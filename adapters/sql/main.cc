// dx-sql-adapter: serves datasets from PostgreSQL tables or views to
// dxgate, one parameterised SELECT per request (docs/ADAPTERS.md).
//
//   dx-sql-adapter --config deploy/sql-adapter.yaml
//   dx-sql-adapter --print-change-feed-ddl deploy/sql-adapter.yaml
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/sdk/adapter_main.h"
#include "adapters/sql/change_feed.h"
#include "adapters/sql/change_feed_plan.h"
#include "adapters/sql/pg_pool.h"
#include "adapters/sql/sql_source.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/yaml_proto.h"
#include "dx/v1/sql_adapter.pb.h"

namespace {

// The password from its file or variable, never from the YAML.
absl::StatusOr<std::string> Password(const dx::v1::PostgresConfig& db,
                                     const std::string& base) {
  if (!db.password_file().empty()) {
    DX_ASSIGN_OR_RETURN(std::string text, dx::ReadFile(dx::ResolvePath(
                                              base, db.password_file())));
    return std::string(absl::StripTrailingAsciiWhitespace(text));
  }
  if (!db.password_env().empty()) {
    const char* value = std::getenv(db.password_env().c_str());
    if (value == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("database.password_env names ", db.password_env(),
                       ", which is not set"));
    }
    return std::string(value);
  }
  return std::string();  // peer, certificate or .pgpass authentication
}

absl::Status Run(const std::string& config_path) {
  dx::v1::SqlAdapterConfig config;
  DX_RETURN_IF_ERROR(dx::LoadYamlFile(config_path, &config));
  const std::string base = dx::DirName(config_path);
  if (config.database().conninfo().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path, ": database.conninfo is required"));
  }
  if (absl::StrContains(config.database().conninfo(), "password")) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path,
                     ": database.conninfo must not hold the password; use "
                     "database.password_file or database.password_env"));
  }
  DX_ASSIGN_OR_RETURN(auto options, dx::adapters::ServingOptions(config, base));
  dx::adapters::PgPool::Options pool_options;
  const auto& db = config.database();
  pool_options.conninfo = db.conninfo();
  DX_ASSIGN_OR_RETURN(pool_options.password, Password(db, base));
  if (db.pool_size() != 0) pool_options.size = static_cast<int>(db.pool_size());
  if (db.acquire_timeout_ms() != 0) {
    pool_options.acquire_timeout = absl::Milliseconds(db.acquire_timeout_ms());
  }
  if (db.connect_timeout_s() != 0) {
    pool_options.connect_timeout_s = static_cast<int>(db.connect_timeout_s());
  }
  const absl::Duration max_statement = absl::Milliseconds(
      db.max_statement_ms() != 0 ? db.max_statement_ms() : 30000);
  // Each change feed has a pool of its own: a running feed holds its
  // connection, which must not starve the look-ups.
  const dx::adapters::PgPool::Options feed_options = pool_options;
  auto pool = std::make_unique<dx::adapters::PgPool>(std::move(pool_options));
  dx::adapters::AdapterServer::Sources sources;
  // One housekeeper per change feed, with a connection of its own: it
  // stamps and prunes the outbox while no consumer reads it. Separate from
  // the served sources, whose lifetime ends inside ServeUntilSignal.
  std::vector<
      std::pair<std::string, std::unique_ptr<dx::adapters::SqlChangeFeed>>>
      housekeepers;
  for (const auto& ds : config.datasets()) {
    auto plan = dx::adapters::SqlQueryPlan::Compile(ds);
    if (!plan.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": ", plan.status().message()));
    }
    dx::LogEvent("dx-sql-adapter", "info", "dataset",
                 {{"dataset", ds.dataset_id()}, {"table", ds.table()}});
    std::unique_ptr<dx::adapters::DataSource> source =
        std::make_unique<dx::adapters::SqlSource>(*std::move(plan), pool.get(),
                                                  max_statement);
    if (ds.has_change_feed()) {
      auto feed = dx::adapters::ChangeFeedPlan::Compile(ds);
      if (!feed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(config_path, ": ", feed.status().message()));
      }
      auto options = feed_options;
      options.size = feed->max_feeds();
      auto keeper_options = feed_options;
      keeper_options.size = 1;
      housekeepers.emplace_back(
          ds.dataset_id(),
          std::make_unique<dx::adapters::SqlChangeFeed>(
              nullptr, *feed,
              std::make_unique<dx::adapters::PgPool>(std::move(keeper_options)),
              max_statement));
      source = std::make_unique<dx::adapters::SqlChangeFeed>(
          std::move(source), *std::move(feed),
          std::make_unique<dx::adapters::PgPool>(std::move(options)),
          max_statement);
    }
    sources[ds.dataset_id()] = std::move(source);
  }
  dx::BackgroundTasks duties;
  if (!housekeepers.empty()) {
    duties.Add({"dx-feed-keep", absl::Minutes(1),
                [&housekeepers] {
                  for (const auto& [dataset, keeper] : housekeepers) {
                    if (absl::Status s = keeper->Housekeep(); !s.ok()) {
                      dx::LogEvent("dx-sql-adapter", "warning",
                                   "change feed housekeeping failed",
                                   {{"dataset", dataset},
                                    {"error", std::string(s.message())}});
                    }
                  }
                },
                /*run_at_start=*/true});
  }
  // The database may be down now: the pool connects on the first request,
  // so the adapter starts and answers UNAVAILABLE until it is back.
  return dx::adapters::ServeUntilSignal(
      "dx-sql-adapter", std::move(options), std::move(sources),
      dx::ResolvePath(base, config.port_file()),
      dx::ResolvePath(base, config.metrics().port_file()));
}

// --print-change-feed-ddl: the SQL an operator runs once for the change
// feeds of the config; nothing is run on the database.
int PrintDdl(const std::string& config_path) {
  dx::v1::SqlAdapterConfig config;
  absl::Status s = dx::LoadYamlFile(config_path, &config);
  std::string out;
  for (const auto& ds : config.datasets()) {
    if (!s.ok()) break;
    if (!ds.has_change_feed()) continue;
    auto plan = dx::adapters::ChangeFeedPlan::Compile(ds);
    if (!plan.ok()) {
      s = plan.status();
      break;
    }
    absl::StrAppend(
        &out,
        plan->Ddl(dx::adapters::ConninfoUser(config.database().conninfo())),
        "\n");
  }
  if (s.ok() && out.empty()) {
    s = absl::InvalidArgumentError(
        "no dataset of the config has a change_feed");
  }
  if (!s.ok()) {
    std::cerr << "dx-sql-adapter: " << config_path << ": " << s.message()
              << "\n";
    return 2;
  }
  std::cout << out;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--print-change-feed-ddl") == 0) {
    return PrintDdl(argv[2]);
  }
  return dx::adapters::AdapterMain(argc, argv, "dx-sql-adapter", &Run);
}
