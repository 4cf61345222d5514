#include "gateway/tree_head_stamping.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "audit/audit_reader.h"
#include "audit/state_db.h"
#include "audit/timestamps.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "timestamp/http_post.h"

namespace dx::gateway {

absl::StatusOr<std::shared_ptr<timestamp::TreeHeadStamper>> MakeTreeHeadStamper(
    const v1::GatewayConfig& config, audit::StateDb* db, const Clock* clock) {
  const v1::TimestampAuthorityConfig& t = config.audit().timestamping();
  if (t.url().empty()) return nullptr;
  DX_ASSIGN_OR_RETURN(std::string roots, ReadFile(t.ca_file()));
  if (!absl::StrContains(roots, "-----BEGIN CERTIFICATE-----")) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit.timestamping.ca_file ", t.ca_file(),
                     " holds no PEM certificate: give the roots the "
                     "authority's tokens chain to"));
  }
  timestamp::HttpPostOptions http;
  http.url = t.url();
  DX_ASSIGN_OR_RETURN(http.tls_roots_pem, ReadFile(t.tls_ca_file()));
  http.timeout = absl::Milliseconds(t.timeout_ms());
  http.max_body_bytes = t.max_reply_bytes();
  timestamp::TreeHeadStamper::Options options;
  options.roots_pem = std::move(roots);
  options.interval = absl::Seconds(t.interval_seconds());
  timestamp::TreeHeadStamper::Seams seams;
  seams.latest_head = [db] { return audit::AuditReader(db).TreeHead(0); };
  seams.store = [db](const v1::TreeHeadTimestamp& stamp) {
    return audit::PutTreeHeadTimestamp(db, stamp);
  };
  seams.post = [http](absl::string_view query) {
    return timestamp::PostTimestampQuery(http, query);
  };
  seams.clock = clock;
  DX_ASSIGN_OR_RETURN(auto last, audit::LatestTreeHeadTimestamp(*db));
  return std::make_shared<timestamp::TreeHeadStamper>(
      std::move(options), std::move(seams), std::move(last));
}

BackgroundTasks::Task TreeHeadStampingDuty(
    std::shared_ptr<timestamp::TreeHeadStamper> stamper) {
  const absl::Duration every = std::max(
      absl::Seconds(1), std::min(stamper->interval(), absl::Seconds(10)));
  return {"dx-timestamp", every,
          [stamper] {
            absl::Status s = stamper->Tick();
            if (!s.ok()) {
              LogEvent("dxgate", "warning",
                       absl::StrCat("time-stamping the tree head failed "
                                    "(exchanges go on; retried later): ",
                                    s.message()));
            }
          },
          /*run_at_start=*/true};
}

metrics::ScrapeFn TreeHeadStampingMetrics(
    std::shared_ptr<timestamp::TreeHeadStamper> stamper, const Clock* clock) {
  using Family = metrics::ScrapedFamily;
  return [stamper, clock] {
    const timestamp::TreeHeadStamper::Stats s = stamper->stats();
    const absl::Time now = clock->Now();
    std::vector<Family> out;
    auto one = [&](std::string name, std::string help, Family::Type type,
                   double value) {
      Family f;
      f.name = std::move(name);
      f.help = std::move(help);
      f.type = type;
      f.samples.push_back({{}, value});
      out.push_back(std::move(f));
    };
    const double lag =
        s.waiting_since.has_value()
            ? std::max(0.0, absl::ToDoubleSeconds(now - *s.waiting_since))
            : 0.0;
    one("dx_audit_timestamp_lag_seconds",
        "Seconds a signed tree head has waited for an RFC 3161 time-stamp "
        "(0: every head seen is stamped)",
        Family::Type::kGauge, lag);
    if (s.last_time.has_value()) {
      one("dx_audit_timestamp_last_success_seconds",
          "Unix time (genTime) of the last verified time-stamp",
          Family::Type::kGauge,
          absl::ToDoubleSeconds(*s.last_time - absl::UnixEpoch()));
    }
    one("dx_audit_timestamp_interval_seconds",
        "The configured time-stamping interval", Family::Type::kGauge,
        absl::ToDoubleSeconds(stamper->interval()));
    one("dx_audit_timestamp_failures_total",
        "Time-stamp attempts that stored nothing (authority unreachable, "
        "slow, or its reply refused)",
        Family::Type::kCounter, static_cast<double>(s.failures));
    one("dx_audit_timestamps_total",
        "Verified time-stamps stored since the node started",
        Family::Type::kCounter, static_cast<double>(s.stamps));
    return out;
  };
}

}  // namespace dx::gateway
