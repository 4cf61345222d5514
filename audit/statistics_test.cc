// Statistics reports: the period's bounds in Vietnam's calendar, the
// counts, the latency histogram, availability from heartbeats, the
// signature, and a report built from a real log (audit/statistics_report.h).
#include "audit/statistics.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/serving_log.h"
#include "audit/statistics_report.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::audit {
namespace {

constexpr int64_t kMinute = kMicrosPerMinute;

int64_t Utc(int y, int mo, int d, int h, int mi = 0) {
  return absl::ToUnixMicros(
      absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone()));
}

v1::AuditRecord Exchange(const std::string& consumer, const std::string& ds,
                         v1::Decision d, int64_t total_micros = 0) {
  v1::AuditRecord r;
  r.set_kind(v1::RECORD_KIND_EXCHANGE);
  r.set_consumer_agency(consumer);
  r.set_provider_agency("000.00.00.G01");
  r.set_dataset_id(ds);
  r.set_decision(d);
  r.set_identity_verified(true);
  r.set_total_micros(total_micros);
  return r;
}

TEST(ReportWindow, DayAndMonthAreVietnamsCalendar) {
  auto day = ReportWindowFor(v1::REPORT_PERIOD_DAY, "2026-12-06");
  ASSERT_TRUE(day.ok()) << day.status();
  // 2026-12-06 00:00 +07:00 is 2026-12-05 17:00 UTC.
  EXPECT_EQ(day->from_micros, Utc(2026, 12, 5, 17));
  EXPECT_EQ(day->to_micros, Utc(2026, 12, 6, 17));
  auto month = ReportWindowFor(v1::REPORT_PERIOD_MONTH, "2028-02");
  ASSERT_TRUE(month.ok()) << month.status();
  EXPECT_EQ(month->from_micros, Utc(2028, 1, 31, 17));
  EXPECT_EQ(month->to_micros, Utc(2028, 2, 29, 17));  // a leap year
  auto dec = ReportWindowFor(v1::REPORT_PERIOD_MONTH, "2026-12");
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(dec->to_micros, Utc(2026, 12, 31, 17));  // into the next year
}

TEST(ReportWindow, BadDatesAreRefusedWithTheExpectedForm) {
  for (const char* bad :
       {"", "2026-02-30", "2026-13-01", "2026-1-06", "26-12-06", "2026-12-6",
        "2026/12/06", "2026-12-06x", "1999-12-31", "+026-12-06", "2026-00-10",
        "2026-12-00", "2026-12"}) {
    auto w = ReportWindowFor(v1::REPORT_PERIOD_DAY, bad);
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    if (!w.ok()) {
      EXPECT_TRUE(absl::StrContains(w.status().message(), "YYYY-MM-DD"))
          << w.status();
    }
  }
  for (const char* bad : {"2026-12-06", "2026-13", "2026-1", "20261", ""}) {
    EXPECT_EQ(ReportWindowFor(v1::REPORT_PERIOD_MONTH, bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(ReportWindowFor(v1::REPORT_PERIOD_UNSPECIFIED, "2026-12-06")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LatencyHistogram, ExactBelow1024AndWithin1Of128Above) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0);
  for (int v = 1; v <= 100; ++v) h.Add(v);
  EXPECT_EQ(h.Percentile(0.50), 50);
  EXPECT_EQ(h.Percentile(0.95), 95);
  EXPECT_EQ(h.Percentile(0.99), 99);
  EXPECT_EQ(h.max(), 100);
  for (int64_t v :
       std::vector<int64_t>{1024, 1500, 123456, 987654321, int64_t{1} << 62}) {
    const int64_t floor = LatencyHistogram::BucketFloor(v);
    EXPECT_LE(floor, v);
    EXPECT_GT(floor, v - v / 128 - 1) << v;
    LatencyHistogram one;
    one.Add(v);
    EXPECT_EQ(one.Percentile(0.5), floor);
    EXPECT_EQ(one.max(), v);
  }
  LatencyHistogram neg;
  neg.Add(-5);  // a clock step back: counted as 0, never a crash
  EXPECT_EQ(neg.Percentile(1.0), 0);
}

TEST(StatisticsBuilder, CountsExchangesByKeyAndDecision) {
  StatisticsBuilder b;
  b.Add(Exchange("H29", "ds1", v1::DECISION_ALLOW, 100));
  b.Add(Exchange("H29", "ds1", v1::DECISION_DENY, 300));
  b.Add(Exchange("H30", "ds2", v1::DECISION_ERROR, 200));
  v1::AuditRecord end = Exchange("H30", "ds2", v1::DECISION_ALLOW, 400);
  end.set_kind(v1::RECORD_KIND_STREAM_END);
  b.Add(end);
  v1::AuditRecord start = end;
  start.set_kind(v1::RECORD_KIND_STREAM_START);
  b.Add(start);  // a stream counts once, at its end
  b.Add(AdminRecord("ops1", "policy.apply", ""));
  v1::AuditRecord nd = Exchange("H29", "ds1", v1::DECISION_ERROR);
  nd.set_kind(v1::RECORD_KIND_NOT_DELIVERED);
  b.Add(nd);
  v1::StatisticsReport r;
  b.Finish(&r);
  EXPECT_EQ(r.totals().total(), 4u);
  EXPECT_EQ(r.totals().allowed(), 2u);
  EXPECT_EQ(r.totals().denied(), 1u);
  EXPECT_EQ(r.totals().errors(), 1u);
  ASSERT_EQ(r.by_consumer_size(), 2);
  EXPECT_EQ(r.by_consumer(0).key(), "H29");
  EXPECT_EQ(r.by_consumer(0).total(), 2u);
  EXPECT_EQ(r.by_consumer(1).key(), "H30");
  EXPECT_EQ(r.by_consumer(1).errors(), 1u);
  ASSERT_EQ(r.by_dataset_size(), 2);
  ASSERT_EQ(r.by_provider_size(), 1);
  EXPECT_EQ(r.by_provider(0).total(), 4u);
  EXPECT_EQ(r.not_delivered(), 1u);
  EXPECT_EQ(r.latency().count(), 4u);
  EXPECT_EQ(r.latency().p50_micros(), 200);
  EXPECT_EQ(r.latency().p99_micros(), 400);
}

TEST(StatisticsBuilder, ClaimedNamesAreNotCountedAsTheAgencys) {
  StatisticsBuilder b;
  v1::AuditRecord claim =
      Exchange("000.00.00.H29", "secret", v1::DECISION_DENY);
  claim.set_identity_verified(false);
  b.Add(claim);
  // A flood of invented names stays bounded.
  for (int i = 0; i < 10005; ++i) {
    b.Add(Exchange("H29", absl::StrCat("ds", i), v1::DECISION_ALLOW));
  }
  v1::StatisticsReport r;
  b.Finish(&r);
  ASSERT_EQ(r.by_consumer_size(), 2);
  EXPECT_EQ(r.by_consumer(0).key(), kUnverifiedKey);
  EXPECT_EQ(r.by_consumer(0).denied(), 1u);
  EXPECT_EQ(r.by_dataset_size(), 10000 + 1);
  bool other = false;
  for (const auto& c : r.by_dataset()) {
    if (c.key() == kOtherKey) {
      other = true;
      EXPECT_EQ(c.total(), 6u);
    }
    EXPECT_NE(c.key(), "secret");
  }
  EXPECT_TRUE(other);
}

TEST(Availability, GapsNotReadyRestartsAndUnmeasured) {
  const int64_t from = Utc(2026, 12, 5, 17);
  const int64_t to = from + 60 * kMinute;
  const int64_t m0 = from / kMinute;
  const int64_t start1 = from - 5 * kMinute, start2 = from + 20 * kMinute;
  std::vector<Heartbeat> beats;
  // Installed at minute 2; ready to 9, not ready 10-11, stopped 12-19,
  // restarted at 20, ready to 29. `now` is in minute 30.
  for (int64_t m = 2; m < 30; ++m) {
    if (m >= 12 && m < 20) continue;
    beats.push_back({m0 + m, m < 20 ? start1 : start2, m < 10 || m >= 12});
  }
  auto a = ComputeAvailability(beats, m0 + 2, from, to,
                               from + 30 * kMinute + 5'000'000);
  EXPECT_EQ(a.elapsed_minutes(), 30u);
  EXPECT_EQ(a.unmeasured_minutes(), 2u);
  EXPECT_EQ(a.up_minutes(), 18u);
  EXPECT_EQ(a.down_minutes(), 10u);
  EXPECT_EQ(a.availability_ppm(), 18u * 1000000 / 28);
  EXPECT_EQ(a.starts(), 1u);  // start1 was before the period
  ASSERT_EQ(a.downtime_size(), 2);
  EXPECT_EQ(a.downtime(0).cause(), "not ready");
  EXPECT_EQ(a.downtime(0).from_unix_micros(), from + 10 * kMinute);
  EXPECT_EQ(a.downtime(0).to_unix_micros(), from + 12 * kMinute);
  EXPECT_EQ(a.downtime(1).cause(), "no heartbeat");
  EXPECT_EQ(a.downtime(1).to_unix_micros(), from + 20 * kMinute);

  // No heartbeat ever: nothing measured, no ratio invented.
  auto none = ComputeAvailability({}, -1, from, to, to + kMinute);
  EXPECT_EQ(none.elapsed_minutes(), 60u);
  EXPECT_EQ(none.unmeasured_minutes(), 60u);
  EXPECT_EQ(none.down_minutes(), 0u);
  EXPECT_EQ(none.availability_ppm(), 0u);
  // Installed before, silent all period (a month with no data): all down.
  auto silent = ComputeAvailability({}, m0 - 100, from, to, to + kMinute);
  EXPECT_EQ(silent.down_minutes(), 60u);
  EXPECT_EQ(silent.availability_ppm(), 0u);
  ASSERT_EQ(silent.downtime_size(), 1);
}

TEST(Availability, DowntimeIntervalsAreBounded) {
  const int64_t from = 0, to = 3000 * kMinute;
  std::vector<Heartbeat> beats;
  for (int64_t m = 0; m < 3000; m += 2) beats.push_back({m, 0, true});
  auto a = ComputeAvailability(beats, 0, from, to, to);
  EXPECT_EQ(a.down_minutes(), 1500u);
  EXPECT_EQ(a.downtime_size(), 1000);
  EXPECT_TRUE(a.downtime_truncated());
}

class StatisticsReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    signer_ = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
    db_ = *StateDb::Open({testing::MakeTempDir("stats") + "/db"});
  }
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<StateDb> db_;
};

TEST_F(StatisticsReportTest, ADayFromTheLogUpToItsTreeHeadSigned) {
  const int64_t day_start = Utc(2026, 12, 5, 17);  // 2026-12-06 +07:00
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer_.get();
  o.tree_head_every_records = 4;
  o.tree_head_interval = absl::Hours(1);
  auto log = *RocksDbAuditLog::Create(db_.get(), o);
  auto append = [&](int64_t t, v1::Decision d) {
    v1::AuditRecord r = Exchange("H29", "ds1", d, 1000);
    r.set_time_unix_micros(t);
    ASSERT_TRUE(AppendAndWait(log.get(), r).ok());
  };
  append(day_start - 1, v1::DECISION_ALLOW);  // 2026-12-05 +07:00
  append(day_start, v1::DECISION_ALLOW);
  append(day_start + 3600'000'000LL, v1::DECISION_DENY);
  append(day_start + 24 * 3600'000'000LL - 1, v1::DECISION_ALLOW);
  // A tree head of 4 records is signed now; the fifth comes after it.
  append(day_start + 7200'000'000LL, v1::DECISION_ALLOW);
  AuditReader reader(db_.get());
  auto head = reader.TreeHead(0);
  ASSERT_TRUE(head.ok()) << head.status();
  ASSERT_EQ(head->tree_size(), 4u);

  ServingLog serving(db_.get(), absl::FromUnixMicros(day_start - kMinute));
  for (int m = 0; m < 3; ++m) {
    ASSERT_TRUE(
        serving.Note(absl::FromUnixMicros(day_start + m * kMinute), m != 1)
            .ok());
  }
  v1::StatisticsReportRequest req;
  req.set_period(v1::REPORT_PERIOD_DAY);
  req.set_date("2026-12-06");
  const absl::Time now = absl::FromUnixMicros(day_start + 4 * kMinute);
  auto s = BuildStatisticsReport(reader, db_.get(), *signer_, "gw-1", req, now);
  ASSERT_TRUE(s.ok()) << s.status();
  const v1::StatisticsReport& r = s->report();
  EXPECT_EQ(r.utc_offset(), "+07:00");
  EXPECT_EQ(r.tree_size(), 4u);
  EXPECT_EQ(r.root_hash(), head->root_hash());
  EXPECT_EQ(r.tree_head_signature(), head->signature());
  EXPECT_EQ(r.totals().total(), 3u);  // not the day before, not past the head
  EXPECT_EQ(r.totals().allowed(), 2u);
  EXPECT_EQ(r.totals().denied(), 1u);
  EXPECT_EQ(r.availability().elapsed_minutes(), 4u);
  EXPECT_EQ(r.availability().up_minutes(), 2u);
  EXPECT_EQ(r.availability().down_minutes(), 2u);  // not ready, no heartbeat

  // The signature covers the prefix and the exact bytes, as openssl checks.
  EXPECT_EQ(s->signed_bytes(),
            absl::StrCat(kReportSignaturePrefix, s->report_bytes()));
  v1::StatisticsReport parsed;
  ASSERT_TRUE(parsed.ParseFromString(s->report_bytes()));
  EXPECT_EQ(parsed.totals().total(), 3u);
  auto key = certs::PublicKeyOfDer(s->signer_certificate());
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(
      certs::VerifySignature(key->get(), s->signed_bytes(), s->signature()));
  std::string tampered = s->signed_bytes();
  tampered.back() ^= 1;
  EXPECT_FALSE(certs::VerifySignature(key->get(), tampered, s->signature()));
  // The tree head it names checks with the same key.
  EXPECT_TRUE(VerifyTreeHead(*head, key->get()));

  // A period not begun, and a month with no data.
  req.set_date("2026-12-08");
  EXPECT_EQ(BuildStatisticsReport(reader, db_.get(), *signer_, "gw-1", req, now)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  req.set_period(v1::REPORT_PERIOD_MONTH);
  req.set_date("2026-10");
  auto empty =
      BuildStatisticsReport(reader, db_.get(), *signer_, "gw-1", req, now);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->report().totals().total(), 0u);
  EXPECT_EQ(empty->report().by_consumer_size(), 0);
  EXPECT_EQ(empty->report().latency().count(), 0u);
  // Before the first heartbeat: not measured, not assumed up.
  EXPECT_EQ(empty->report().availability().up_minutes(), 0u);
  EXPECT_EQ(empty->report().availability().unmeasured_minutes(),
            empty->report().availability().elapsed_minutes());
}

TEST_F(StatisticsReportTest, NoTreeHeadYetIsAFailedPrecondition) {
  AuditReader reader(db_.get());
  v1::StatisticsReportRequest req;
  req.set_period(v1::REPORT_PERIOD_DAY);
  req.set_date("2026-12-06");
  auto s = BuildStatisticsReport(reader, db_.get(), *signer_, "gw-1", req,
                                 absl::FromUnixMicros(Utc(2026, 12, 7, 0)));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ReportToCsv, OneValueARowAndNoFormulas) {
  StatisticsBuilder b;
  b.Add(Exchange("H29", "=HYPERLINK(\"x\",\"y\")", v1::DECISION_ALLOW));
  v1::SignedStatisticsReport s;
  b.Finish(s.mutable_report());
  s.set_report_bytes("abc");
  const std::string csv = ReportToCsv(s);
  EXPECT_TRUE(absl::StartsWith(csv, "metric,key,value\n"));
  EXPECT_TRUE(absl::StrContains(csv, "exchanges_total,,1\n"));
  EXPECT_TRUE(absl::StrContains(csv, "consumer_allowed,H29,1\n"));
  EXPECT_TRUE(absl::StrContains(
      csv, "dataset_total,\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",1\n"))
      << csv;
  EXPECT_TRUE(absl::StrContains(csv, "report_bytes_base64,,YWJj\n"));
}

}  // namespace
}  // namespace dx::audit
