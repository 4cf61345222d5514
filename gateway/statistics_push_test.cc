// The statistics push on a real log and state database, with the HTTPS
// client replaced at its seam: retries with backoff, an admin record per
// attempt, batch dates kept across a restart; and the real client refuses
// plain http.
#include "gateway/statistics_push.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "audit/admin.h"
#include "audit/audit_reader.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "dx/v1/reports.pb.h"
#include "gateway/admin_recorder.h"

namespace dx::gateway {
namespace {

// 2026-12-06 10:00 in Vietnam (03:00 UTC): the day of 2026-12-05 is due.
const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2026, 12, 6, 3, 0, 0),
                                        absl::UTCTimeZone());

class StatisticsPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    signer_ = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
    db_ = *audit::StateDb::Open({testing::MakeTempDir("push") + "/db"});
    audit::RocksDbAuditLog::Options o;
    o.tree_head_signer = signer_.get();
    o.tree_head_every_records = 1;
    o.clock = &clock_;
    log_ = *audit::RocksDbAuditLog::Create(db_.get(), o);
    v1::AuditRecord r;
    r.set_kind(v1::RECORD_KIND_EXCHANGE);
    r.set_decision(v1::DECISION_ALLOW);
    r.set_consumer_agency("000.00.00.H30");
    ASSERT_TRUE(audit::AppendAndWait(log_.get(), r).ok());
    recorder_ = std::make_unique<AuditAdminRecorder>(log_.get(), "gw1");
    reader_ = std::make_unique<audit::AuditReader>(db_.get());
    // The writer signs the tree head after it acknowledged the record; a
    // report is computed at a signed head, so wait for it (a slow first run
    // under TSan pushed yesterday's report first).
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!reader_->TreeHead(0).ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_TRUE(reader_->TreeHead(0).ok());
  }

  StatisticsPush::Deps Deps() {
    StatisticsPush::Deps d;
    d.config.set_url("https://reports.example/feed");
    d.config.set_after_minutes(5);
    d.config.set_every_seconds(3600);
    d.config.set_max_attempts(5);
    d.config.set_initial_backoff_ms(1);
    d.config.set_max_backoff_seconds(1);
    d.reader = reader_.get();
    d.db = db_.get();
    d.signer = signer_.get();
    d.recorder = recorder_.get();
    d.clock = &clock_;
    d.node_id = "gw1";
    d.post = [this](const std::string& json) {
      absl::MutexLock lock(&mu_);
      if (++calls_ <= fail_first_) return absl::UnavailableError("HTTP 503");
      delivered_.push_back(json);
      return absl::OkStatus();
    };
    return d;
  }

  // Waits (on the condition, not a guess of time) for `n` deliveries.
  bool WaitDelivered(size_t n) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    return mu_.AwaitWithTimeout(
        absl::Condition(this, &StatisticsPushTest::HasWanted),
        absl::Seconds(60));
  }
  bool HasWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return delivered_.size() >= want_;
  }

  std::vector<std::string> PushRecords() {
    std::vector<std::string> out;
    auto page = reader_->Query({}, 10000, "");
    EXPECT_TRUE(page.ok());
    if (!page.ok()) return out;
    for (const auto& r : page->records) {
      if (r.record().admin_action() == "statistics.push") {
        out.push_back(r.record().message());
      }
    }
    return out;
  }

  FakeClock clock_{kNow};
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<audit::StateDb> db_;
  std::unique_ptr<audit::RocksDbAuditLog> log_;
  std::unique_ptr<AuditAdminRecorder> recorder_;
  std::unique_ptr<audit::AuditReader> reader_;
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_first_ = 2;
  std::vector<std::string> delivered_ ABSL_GUARDED_BY(mu_);
  size_t want_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(StatisticsPushTest, FailuresAreRetriedAndEachAttemptIsRecorded) {
  {
    StatisticsPush push(Deps());
    // Today's report (real time), after two failures; then yesterday's.
    ASSERT_TRUE(WaitDelivered(2));
    push.Stop();
  }
  {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(calls_, 4);
    v1::SignedStatisticsReport first;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(delivered_[0], &first)
            .ok());
    EXPECT_EQ(first.report().date(), "2026-12-06");
    EXPECT_EQ(first.report().totals().total(), 1u);
    EXPECT_FALSE(first.signature().empty());
  }
  const std::vector<std::string> recs = PushRecords();
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_TRUE(absl::StrContains(recs[0],
                                "day 2026-12-06 to "
                                "https://reports.example/feed"))
      << recs[0];
  EXPECT_TRUE(absl::StrContains(recs[0], "attempt 1 of 5 failed: HTTP 503"));
  EXPECT_TRUE(absl::StrContains(recs[1], "attempt 2 of 5 failed: HTTP 503"));
  EXPECT_TRUE(absl::StrContains(recs[2], "attempt 3 of 5: delivered"));
  EXPECT_TRUE(absl::StrContains(recs[3], "day 2026-12-05"));
  EXPECT_TRUE(absl::StrContains(recs[3], "attempt 1 of 5: delivered"));

  // A restart: yesterday was delivered, so only today's is pushed again.
  {
    StatisticsPush push(Deps());
    ASSERT_TRUE(WaitDelivered(3));
    push.Stop();
  }
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(calls_, 5);
}

TEST(StatisticsPushHttps, PlainHttpIsNeverSent) {
  v1::StatisticsPushConfig c;
  c.set_url("http://127.0.0.1:1/feed");
  c.set_timeout_seconds(5);
  absl::Status s = StatisticsPush::HttpsPost(c)("{}");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dx::gateway
