#include "gateway/statistics_push.h"

#include <google/protobuf/util/json_util.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "audit/state_db.h"
#include "audit/statistics.h"
#include "audit/statistics_report.h"
#include "common/log.h"
#include "gateway/admin_recorder.h"
#include "gateway/https_post.h"

namespace dx::gateway {
namespace {

constexpr char kDonePrefix[] = "stats-push/done/";

absl::TimeZone Vietnam() {
  return absl::FixedTimeZone(audit::kVietnamUtcOffsetSeconds);
}

std::string DayOf(absl::CivilDay d) { return absl::FormatCivilTime(d); }
std::string MonthOf(absl::CivilMonth m) { return absl::FormatCivilTime(m); }

}  // namespace

StatisticsPush::StatisticsPush(Deps deps) : deps_(std::move(deps)) {
  InitHttpsPost();  // before the thread that posts
  thread_ = std::make_unique<Periodic>(
      Periodic::Options{absl::Seconds(1), /*run_at_start=*/true,
                        "dx-stats-push"},
      [this] { Round(); });
}

void StatisticsPush::Stop() {
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (thread_ != nullptr) thread_->Stop();
}

bool StatisticsPush::Done(const std::string& key) const {
  std::string v;
  return deps_.db->db()
      ->Get(rocksdb::ReadOptions(), deps_.db->cf(audit::Cf::kMeta), key, &v)
      .ok();
}

void StatisticsPush::MarkDone(const std::string& key) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  (void)deps_.db->db()->Put(wo, deps_.db->cf(audit::Cf::kMeta), key, "1");
}

void StatisticsPush::Round() {
  const absl::Time now = deps_.clock->Now();
  const absl::CivilMinute local = absl::ToCivilMinute(now, Vietnam());
  const absl::CivilDay today(local);
  if (deps_.config.every_seconds() > 0 && now >= next_realtime_) {
    if (Push(v1::REPORT_PERIOD_DAY, DayOf(today)) != Outcome::kNotYet) {
      next_realtime_ = now + absl::Seconds(deps_.config.every_seconds());
    }
  }
  // The batch feed: yesterday, and last month on the first of a month,
  // once the day is over by after_minutes.
  if (now < next_batch_try_ ||
      local - absl::CivilMinute(today) <
          static_cast<int>(deps_.config.after_minutes())) {
    return;
  }
  struct Due {
    v1::ReportPeriod period;
    std::string date;
  };
  std::vector<Due> due = {{v1::REPORT_PERIOD_DAY, DayOf(today - 1)}};
  if (today.day() == 1) {
    due.push_back(
        {v1::REPORT_PERIOD_MONTH, MonthOf(absl::CivilMonth(today) - 1)});
  }
  for (const Due& d : due) {
    const std::string key =
        absl::StrCat(kDonePrefix, v1::ReportPeriod_Name(d.period), "/", d.date);
    if (Done(key)) continue;
    const Outcome o = Push(d.period, d.date);
    if (o == Outcome::kDelivered) {
      MarkDone(key);
    } else if (o == Outcome::kFailed) {
      next_batch_try_ = now + absl::Hours(1);
    }
    if (stopping_.HasBeenNotified()) return;
  }
}

StatisticsPush::Outcome StatisticsPush::Push(v1::ReportPeriod period,
                                             const std::string& date) {
  const std::string what =
      absl::StrCat(period == v1::REPORT_PERIOD_DAY ? "day " : "month ", date,
                   " to ", deps_.config.url());
  v1::StatisticsReportRequest req;
  req.set_period(period);
  req.set_date(date);
  auto report =
      audit::BuildStatisticsReport(*deps_.reader, deps_.db, *deps_.signer,
                                   deps_.node_id, req, deps_.clock->Now());
  if (absl::IsFailedPrecondition(report.status())) return Outcome::kNotYet;
  if (!report.ok()) {
    (void)deps_.recorder->RecordForNode(
        "statistics.push",
        absl::StrCat(what, ": not built: ", report.status().message()));
    return Outcome::kFailed;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*report, &json, o);
  const std::string head =
      absl::StrCat(what, " (tree size ", report->report().tree_size(), ")");
  absl::Duration backoff = absl::Milliseconds(
      std::max<uint32_t>(1, deps_.config.initial_backoff_ms()));
  const absl::Duration max_backoff =
      absl::Seconds(std::max<uint32_t>(1, deps_.config.max_backoff_seconds()));
  const uint32_t attempts = std::max<uint32_t>(1, deps_.config.max_attempts());
  for (uint32_t i = 1; i <= attempts; ++i) {
    absl::Status s = deps_.post(json);
    if (s.ok()) {
      (void)deps_.recorder->RecordForNode(
          "statistics.push",
          absl::StrCat(head, ": attempt ", i, " of ", attempts, ": delivered"));
      return Outcome::kDelivered;
    }
    const bool last = i == attempts;
    const std::string detail = absl::StrCat(
        head, ": attempt ", i, " of ", attempts, " failed: ", s.message(),
        last ? "; giving up for this round"
             : absl::StrCat("; next in ", absl::FormatDuration(backoff)));
    LogEvent("dxgate", "warning", absl::StrCat("statistics push: ", detail));
    (void)deps_.recorder->RecordForNode("statistics.push", detail);
    if (last || stopping_.WaitForNotificationWithTimeout(backoff)) break;
    backoff = std::min(backoff * 2, max_backoff);
  }
  return Outcome::kFailed;
}

StatisticsPush::Post StatisticsPush::HttpsPost(
    const v1::StatisticsPushConfig& config) {
  return [config](const std::string& json) -> absl::Status {
    HttpsPostRequest r;
    r.url = config.url();
    r.content_type = "application/json";
    r.body = json;
    r.ca_file = config.ca_file();
    r.cert_file = config.client_tls().cert_file();
    r.key_file = config.client_tls().key_file();
    r.timeout_seconds = static_cast<int>(config.timeout_seconds());
    absl::StatusOr<HttpsPostAnswer> answer = HttpsPostOnce(r);
    if (!answer.ok()) return answer.status();
    if (answer->status < 200 || answer->status > 299) {
      return absl::UnavailableError(absl::StrCat("HTTP ", answer->status));
    }
    return absl::OkStatus();
  };
}

}  // namespace dx::gateway
