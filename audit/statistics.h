// Statistics reports (Circular 12/2025/TT-BKHCN): the pure computation, no
// storage. A report covers one calendar day or month of Vietnam (UTC+7);
// StatisticsBuilder counts the exchanges of the records it is given and
// keeps a bounded latency histogram; ComputeAvailability turns the node's
// minute heartbeats into uptime, downtime and restarts; SignReport signs
// the report's bytes with the log key. audit/statistics_report.h feeds
// them from the log. Not thread-safe (one report per builder).
#ifndef DX_AUDIT_STATISTICS_H_
#define DX_AUDIT_STATISTICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/crypto.h"
#include "dx/v1/audit.pb.h"
#include "dx/v1/reports.pb.h"

namespace dx::audit {

inline constexpr char kReportFormat[] = "dxgate statistics report v1";
// What the log key signs: this, then the report's bytes.
inline constexpr char kReportSignaturePrefix[] =
    "dxgate statistics report v1\n";
// Vietnam's offset from UTC (no daylight saving).
inline constexpr int kVietnamUtcOffsetSeconds = 7 * 3600;
inline constexpr int64_t kMicrosPerMinute = 60'000'000;

// The period a request names: [from, to) in microseconds since the epoch.
struct ReportWindow {
  v1::ReportPeriod period = v1::REPORT_PERIOD_UNSPECIFIED;
  std::string date;
  int64_t from_micros = 0;
  int64_t to_micros = 0;
};
// "YYYY-MM-DD" (a day) or "YYYY-MM" (a month) of Vietnam's calendar, years
// 2000 to 9999; INVALID_ARGUMENT saying the expected form otherwise.
absl::StatusOr<ReportWindow> ReportWindowFor(v1::ReportPeriod period,
                                             absl::string_view date);

// Latencies in buckets: exact below 1,024 µs, then 128 buckets per power
// of two (a bucket's values are within 1/128 of its lower bound, which is
// what a percentile reports). Memory is bounded by the range, not the
// count: at most 7,808 buckets.
class LatencyHistogram {
 public:
  void Add(int64_t micros);
  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  // Nearest rank: the lower bound of the bucket holding the value of rank
  // ceil(q * count), q in (0, 1] taken to a thousandth; 0 when empty.
  int64_t Percentile(double q) const;
  // The lower bound of the bucket `micros` falls in (what a percentile of
  // exactly that value reports).
  static int64_t BucketFloor(int64_t micros);

 private:
  static int Bucket(int64_t micros);
  std::map<int, uint64_t> buckets_;
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

// The consumer and dataset key of exchanges refused before the caller was
// proven (docs/AUDIT.md#claims): their names are claims, not counted as
// that agency's. kOtherKey: the keys past the 10,000th of a group.
inline constexpr char kUnverifiedKey[] = "(unverified)";
inline constexpr char kOtherKey[] = "(other)";

// Counts exchanges by provider, consumer, dataset and decision. Add() takes
// every record of the period (the caller picks them by time and tree
// size); it skips what is not an exchange.
class StatisticsBuilder {
 public:
  void Add(const v1::AuditRecord& record);
  // Fills totals, by_provider, by_consumer, by_dataset (sorted by key),
  // not_delivered and latency.
  void Finish(v1::StatisticsReport* out) const;

 private:
  struct Counts {
    uint64_t total = 0, allowed = 0, denied = 0, errors = 0;
    void Add(v1::Decision d);
  };
  Counts totals_;
  std::map<std::string, Counts> by_provider_, by_consumer_, by_dataset_;
  uint64_t not_delivered_ = 0;
  LatencyHistogram latency_;
};

// One minute of the node's serving state, as audit/serving_log.h keeps it.
struct Heartbeat {
  int64_t minute = 0;  // minutes since the epoch (UTC)
  int64_t process_start_micros = 0;
  bool ready = false;
};
// The availability over [from, to) as of `now`: `beats` are the period's
// heartbeats, oldest first; `first_minute_ever` the minute of the node's
// first heartbeat (-1: none ever). Minutes before it are unmeasured; the
// current minute (not over) is left out.
v1::Availability ComputeAvailability(const std::vector<Heartbeat>& beats,
                                     int64_t first_minute_ever,
                                     int64_t from_micros, int64_t to_micros,
                                     int64_t now_micros);

// Serializes `report` and signs kReportSignaturePrefix || its bytes.
absl::StatusOr<v1::SignedStatisticsReport> SignReport(
    const certs::Signer& signer, const v1::StatisticsReport& report);

// The report as CSV, one value a row: "metric,key,value" (the signed bytes
// too, base64, so that the file alone can be checked).
std::string ReportToCsv(const v1::SignedStatisticsReport& signed_report);

}  // namespace dx::audit

#endif  // DX_AUDIT_STATISTICS_H_
