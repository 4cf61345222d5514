#include "audit/statistics.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "audit/attribution.h"
#include "common/bytes.h"
#include "common/status_macros.h"

namespace dx::audit {
namespace {

constexpr int kExactBelow = 1024;  // 2^10
constexpr int kSubBuckets = 128;   // per power of two above
constexpr size_t kMaxDowntimeIntervals = 1000;
// A refusal before the caller was proven names whatever the caller wrote:
// such names are counted under one key, never as that agency's or
// dataset's, and no group grows past kMaxKeys (a flood of invented names
// then lands in kOtherKey).
constexpr size_t kMaxKeys = 10000;

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

int FloorLog2(uint64_t v) { return 63 - __builtin_clzll(v); }

}  // namespace

absl::StatusOr<ReportWindow> ReportWindowFor(v1::ReportPeriod period,
                                             absl::string_view date) {
  const bool day = period == v1::REPORT_PERIOD_DAY;
  if (!day && period != v1::REPORT_PERIOD_MONTH) {
    return absl::InvalidArgumentError(
        "period must be REPORT_PERIOD_DAY or REPORT_PERIOD_MONTH");
  }
  const absl::string_view form = day ? "YYYY-MM-DD" : "YYYY-MM";
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "date \"", absl::CHexEscape(date.substr(0, 32)), "\" is not a ",
        day ? "day" : "month", " of the calendar written ", form, " (e.g. ",
        day ? "2026-12-06" : "2026-12", "), year 2000 to 9999"));
  };
  if (date.size() != form.size() || date[4] != '-' || (day && date[7] != '-')) {
    return bad();
  }
  int y = 0, m = 0, d = 1;
  if (!AllDigits(date.substr(0, 4)) || !AllDigits(date.substr(5, 2)) ||
      !absl::SimpleAtoi(date.substr(0, 4), &y) ||
      !absl::SimpleAtoi(date.substr(5, 2), &m)) {
    return bad();
  }
  if (day && (!AllDigits(date.substr(8, 2)) ||
              !absl::SimpleAtoi(date.substr(8, 2), &d))) {
    return bad();
  }
  if (y < 2000 || y > 9999 || m < 1 || m > 12 || d < 1) return bad();
  const absl::CivilDay start(y, m, d);
  // CivilDay normalises 2026-02-30 to March: refuse instead.
  if (start.month() != m || start.day() != d) return bad();
  const absl::CivilDay end =
      day ? start + 1 : absl::CivilDay(absl::CivilMonth(start) + 1);
  const absl::TimeZone vietnam = absl::FixedTimeZone(kVietnamUtcOffsetSeconds);
  ReportWindow w;
  w.period = period;
  w.date = std::string(date);
  w.from_micros = absl::ToUnixMicros(absl::FromCivil(start, vietnam));
  w.to_micros = absl::ToUnixMicros(absl::FromCivil(end, vietnam));
  return w;
}

int LatencyHistogram::Bucket(int64_t micros) {
  if (micros < kExactBelow) return static_cast<int>(micros);
  const int e = FloorLog2(static_cast<uint64_t>(micros));  // >= 10
  const int sub = static_cast<int>((micros >> (e - 7)) & (kSubBuckets - 1));
  return kExactBelow + (e - 10) * kSubBuckets + sub;
}

int64_t LatencyHistogram::BucketFloor(int64_t micros) {
  if (micros < kExactBelow) return std::max<int64_t>(micros, 0);
  const int e = FloorLog2(static_cast<uint64_t>(micros));
  return (micros >> (e - 7)) << (e - 7);
}

void LatencyHistogram::Add(int64_t micros) {
  if (micros < 0) micros = 0;
  ++buckets_[Bucket(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

int64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  // In thousandths, so that the rank is exact integer arithmetic (what an
  // auditor's script recomputes), not a product of doubles.
  const uint64_t permille = static_cast<uint64_t>(std::llround(q * 1000));
  const uint64_t rank = std::max<uint64_t>(1, (permille * count_ + 999) / 1000);
  uint64_t seen = 0;
  for (const auto& [bucket, n] : buckets_) {
    seen += n;
    if (seen >= rank) {
      if (bucket < kExactBelow) return bucket;
      const int e = (bucket - kExactBelow) / kSubBuckets + 10;
      const int sub = (bucket - kExactBelow) % kSubBuckets;
      return static_cast<int64_t>(kSubBuckets + sub) << (e - 7);
    }
  }
  return max_;
}

void StatisticsBuilder::Counts::Add(v1::Decision d) {
  ++total;
  if (d == v1::DECISION_ALLOW) ++allowed;
  if (d == v1::DECISION_DENY) ++denied;
  if (d == v1::DECISION_ERROR) ++errors;
}

void StatisticsBuilder::Add(const v1::AuditRecord& r) {
  if (r.kind() == v1::RECORD_KIND_NOT_DELIVERED) {
    ++not_delivered_;
    return;
  }
  // A stream counts once, at its end; admin records are not exchanges.
  if (r.kind() != v1::RECORD_KIND_EXCHANGE &&
      r.kind() != v1::RECORD_KIND_STREAM_END) {
    return;
  }
  const bool claimed = AttributionOf(r) != v1::ATTRIBUTION_VERIFIED;
  auto count = [&r](std::map<std::string, Counts>& group,
                    const std::string& key) {
    auto it = group.find(key);
    if (it == group.end()) {
      it = group.size() < kMaxKeys ? group.emplace(key, Counts{}).first
                                   : group.emplace(kOtherKey, Counts{}).first;
    }
    it->second.Add(r.decision());
  };
  totals_.Add(r.decision());
  count(by_provider_, r.provider_agency());
  count(by_consumer_, claimed ? kUnverifiedKey : r.consumer_agency());
  count(by_dataset_, claimed ? kUnverifiedKey : r.dataset_id());
  if (r.total_micros() > 0) latency_.Add(r.total_micros());
}

void StatisticsBuilder::Finish(v1::StatisticsReport* out) const {
  auto fill = [](const std::string& key, const Counts& c,
                 v1::ExchangeCount* row) {
    row->set_key(key);
    row->set_total(c.total);
    row->set_allowed(c.allowed);
    row->set_denied(c.denied);
    row->set_errors(c.errors);
  };
  fill("", totals_, out->mutable_totals());
  for (const auto& [k, c] : by_provider_) fill(k, c, out->add_by_provider());
  for (const auto& [k, c] : by_consumer_) fill(k, c, out->add_by_consumer());
  for (const auto& [k, c] : by_dataset_) fill(k, c, out->add_by_dataset());
  out->set_not_delivered(not_delivered_);
  v1::LatencySummary* l = out->mutable_latency();
  l->set_count(latency_.count());
  l->set_p50_micros(latency_.Percentile(0.50));
  l->set_p95_micros(latency_.Percentile(0.95));
  l->set_p99_micros(latency_.Percentile(0.99));
  l->set_max_micros(latency_.max());
}

v1::Availability ComputeAvailability(const std::vector<Heartbeat>& beats,
                                     int64_t first_minute_ever,
                                     int64_t from_micros, int64_t to_micros,
                                     int64_t now_micros) {
  v1::Availability a;
  const int64_t first = from_micros / kMicrosPerMinute;
  // The minute under way is not over: leave it out.
  const int64_t end =
      std::min(to_micros / kMicrosPerMinute, now_micros / kMicrosPerMinute);
  if (end <= first) return a;
  a.set_elapsed_minutes(static_cast<uint64_t>(end - first));
  const int64_t measured_from =
      first_minute_ever < 0 ? end : std::max(first, first_minute_ever);
  a.set_unmeasured_minutes(
      static_cast<uint64_t>(std::min(measured_from, end) - first));

  std::set<int64_t> starts;
  for (const Heartbeat& b : beats) {
    if (b.process_start_micros >= from_micros &&
        b.process_start_micros < to_micros) {
      starts.insert(b.process_start_micros);
    }
  }
  a.set_starts(static_cast<uint32_t>(starts.size()));

  uint64_t up = 0, down = 0;
  size_t i = 0;
  v1::DowntimeInterval* open = nullptr;
  for (int64_t m = measured_from; m < end; ++m) {
    while (i < beats.size() && beats[i].minute < m) ++i;
    const bool beat = i < beats.size() && beats[i].minute == m;
    if (beat && beats[i].ready) {
      ++up;
      open = nullptr;
      continue;
    }
    ++down;
    const char* cause = beat ? "not ready" : "no heartbeat";
    if (open != nullptr && open->cause() == cause &&
        open->to_unix_micros() == m * kMicrosPerMinute) {
      open->set_to_unix_micros((m + 1) * kMicrosPerMinute);
      continue;
    }
    if (static_cast<size_t>(a.downtime_size()) >= kMaxDowntimeIntervals) {
      a.set_downtime_truncated(true);
      open = nullptr;
      continue;
    }
    open = a.add_downtime();
    open->set_from_unix_micros(m * kMicrosPerMinute);
    open->set_to_unix_micros((m + 1) * kMicrosPerMinute);
    open->set_cause(cause);
  }
  a.set_up_minutes(up);
  a.set_down_minutes(down);
  if (up + down > 0) {
    a.set_availability_ppm(static_cast<uint32_t>(up * 1'000'000 / (up + down)));
  }
  return a;
}

absl::StatusOr<v1::SignedStatisticsReport> SignReport(
    const certs::Signer& signer, const v1::StatisticsReport& report) {
  v1::SignedStatisticsReport out;
  std::string bytes;
  if (!report.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the statistics report");
  }
  std::string tbs = absl::StrCat(kReportSignaturePrefix, bytes);
  DX_ASSIGN_OR_RETURN(certs::Signer::Signature sig,
                      signer.SignWithCertificate(tbs));
  *out.mutable_report() = report;
  out.set_report_bytes(std::move(bytes));
  out.set_signed_bytes(std::move(tbs));
  out.set_signature(std::move(sig.der));
  out.set_signer_certificate(std::move(sig.certificate_der));
  return out;
}

namespace {

// A CSV field: quoted when it holds a comma, quote or line break. A key
// (a dataset id, an agency code: they come from callers) that a
// spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
// leading apostrophe; the report's own values (numbers, hex, "+07:00") are
// written as they are.
std::string Field(absl::string_view s, bool from_caller = false) {
  std::string v(s);
  if (from_caller && !v.empty() &&
      absl::string_view("=+-@\t\r").find(v[0]) != absl::string_view::npos) {
    v.insert(0, "'");
  }
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string ReportToCsv(const v1::SignedStatisticsReport& s) {
  const v1::StatisticsReport& r = s.report();
  std::string out = "metric,key,value\n";
  auto row = [&out](absl::string_view metric, absl::string_view key,
                    const std::string& value) {
    absl::StrAppend(&out, Field(metric), ",", Field(key, /*from_caller=*/true),
                    ",", Field(value), "\n");
  };
  row("format", "", r.format());
  row("node_id", "", r.node_id());
  row("period", "", v1::ReportPeriod_Name(r.period()));
  row("date", "", r.date());
  row("utc_offset", "", r.utc_offset());
  row("from_unix_micros", "", absl::StrCat(r.from_unix_micros()));
  row("to_unix_micros", "", absl::StrCat(r.to_unix_micros()));
  row("generated_unix_micros", "", absl::StrCat(r.generated_unix_micros()));
  row("tree_size", "", absl::StrCat(r.tree_size()));
  row("root_hash_hex", "", HexEncode(r.root_hash()));
  row("tree_head_timestamp_ms", "", absl::StrCat(r.tree_head_timestamp_ms()));
  row("tree_head_signature_hex", "", HexEncode(r.tree_head_signature()));
  auto counts = [&row](absl::string_view group, const v1::ExchangeCount& c) {
    row(absl::StrCat(group, "_total"), c.key(), absl::StrCat(c.total()));
    row(absl::StrCat(group, "_allowed"), c.key(), absl::StrCat(c.allowed()));
    row(absl::StrCat(group, "_denied"), c.key(), absl::StrCat(c.denied()));
    row(absl::StrCat(group, "_errors"), c.key(), absl::StrCat(c.errors()));
  };
  counts("exchanges", r.totals());
  for (const auto& c : r.by_provider()) counts("provider", c);
  for (const auto& c : r.by_consumer()) counts("consumer", c);
  for (const auto& c : r.by_dataset()) counts("dataset", c);
  row("not_delivered", "", absl::StrCat(r.not_delivered()));
  row("latency_count", "", absl::StrCat(r.latency().count()));
  row("latency_p50_micros", "", absl::StrCat(r.latency().p50_micros()));
  row("latency_p95_micros", "", absl::StrCat(r.latency().p95_micros()));
  row("latency_p99_micros", "", absl::StrCat(r.latency().p99_micros()));
  row("latency_max_micros", "", absl::StrCat(r.latency().max_micros()));
  const v1::Availability& a = r.availability();
  row("elapsed_minutes", "", absl::StrCat(a.elapsed_minutes()));
  row("unmeasured_minutes", "", absl::StrCat(a.unmeasured_minutes()));
  row("up_minutes", "", absl::StrCat(a.up_minutes()));
  row("down_minutes", "", absl::StrCat(a.down_minutes()));
  row("availability_ppm", "", absl::StrCat(a.availability_ppm()));
  row("starts", "", absl::StrCat(a.starts()));
  for (const auto& d : a.downtime()) {
    row("downtime", d.cause(),
        absl::StrCat(d.from_unix_micros(), "-", d.to_unix_micros()));
  }
  if (a.downtime_truncated()) row("downtime_truncated", "", "true");
  row("report_bytes_base64", "", absl::Base64Escape(s.report_bytes()));
  row("signature_base64", "", absl::Base64Escape(s.signature()));
  row("signer_certificate_base64", "",
      absl::Base64Escape(s.signer_certificate()));
  return out;
}

}  // namespace dx::audit
