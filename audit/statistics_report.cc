#include "audit/statistics_report.h"

#include "absl/strings/str_cat.h"
#include "audit/serving_log.h"
#include "audit/statistics.h"
#include "common/status_macros.h"

namespace dx::audit {
namespace {

constexpr size_t kPage = 10000;

}  // namespace

absl::StatusOr<v1::SignedStatisticsReport> BuildStatisticsReport(
    const AuditReader& reader, StateDb* db, const certs::Signer& signer,
    const std::string& node_id, const v1::StatisticsReportRequest& request,
    absl::Time now) {
  DX_ASSIGN_OR_RETURN(ReportWindow w,
                      ReportWindowFor(request.period(), request.date()));
  const int64_t now_micros = absl::ToUnixMicros(now);
  if (w.from_micros > now_micros) {
    return absl::InvalidArgumentError(
        absl::StrCat(w.date,
                     " has not begun (in UTC+7): ask for a period "
                     "that has started"));
  }
  auto sth = reader.TreeHead(0);
  if (absl::IsNotFound(sth.status())) {
    return absl::FailedPreconditionError(
        "the log has no signed tree head yet: a report is computed at one; "
        "ask again once the gateway has recorded something");
  }
  DX_RETURN_IF_ERROR(sth.status());

  v1::StatisticsReport r;
  r.set_format(kReportFormat);
  r.set_node_id(node_id);
  r.set_period(w.period);
  r.set_date(w.date);
  r.set_utc_offset("+07:00");
  r.set_from_unix_micros(w.from_micros);
  r.set_to_unix_micros(w.to_micros);
  r.set_generated_unix_micros(now_micros);
  r.set_tree_size(sth->tree_size());
  r.set_root_hash(sth->root_hash());
  r.set_tree_head_timestamp_ms(sth->timestamp_ms());
  r.set_tree_head_signature(sth->signature());

  // The records the tree head commits to, and only those: an auditor
  // recomputes the same counts from a bundle of that tree head.
  StatisticsBuilder builder;
  AuditReader::Filter f;
  f.from_micros = w.from_micros;
  f.to_micros = w.to_micros;
  std::string token;
  do {
    DX_ASSIGN_OR_RETURN(AuditReader::Page page, reader.Query(f, kPage, token));
    for (const v1::StoredRecord& rec : page.records) {
      if (rec.sequence_number() < sth->tree_size()) builder.Add(rec.record());
    }
    token = std::move(page.next_page_token);
  } while (!token.empty());
  builder.Finish(&r);

  DX_ASSIGN_OR_RETURN(std::vector<Heartbeat> beats,
                      ServingLog::Read(db, w.from_micros, w.to_micros));
  DX_ASSIGN_OR_RETURN(int64_t first, ServingLog::FirstMinute(db));
  *r.mutable_availability() =
      ComputeAvailability(beats, first, w.from_micros, w.to_micros, now_micros);
  return SignReport(signer, r);
}

}  // namespace dx::audit
