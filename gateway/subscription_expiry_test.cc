// The idle expiry of subscriptions (SubscriptionService::ExpireIdle) on a
// real RocksDB state database, with a clock the test moves and an audit log
// that can refuse: what is deleted, what is kept, and that nothing goes
// unaudited.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "audit/state_db.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "gateway/internal/subscription_service_peer.h"
#include "gateway/subscription_service.h"
#include "gateway/subscription_state.h"

namespace dx::gateway {
namespace {

constexpr char kAgency[] = "000.00.00.H30";
constexpr char kDataset[] = "bca.population";

// Keeps records in memory, or refuses them (as a log whose disk failed).
class RecordingAuditLog final : public audit::AuditLog {
 public:
  void Append(v1::AuditRecord record, Callback done) override {
    absl::StatusOr<audit::AppendResult> result;
    {
      absl::MutexLock lock(&mu_);
      if (!fail_.ok()) {
        result = fail_;
      } else {
        audit::AppendResult r;
        r.sequence_number = records_.size();
        r.record_hash = audit::LeafHash(record.SerializeAsString());
        records_.push_back(std::move(record));
        result = r;
      }
    }
    done(result);
  }
  absl::Status Health() const override { return absl::OkStatus(); }
  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(s);
  }
  std::vector<v1::AuditRecord> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  absl::Mutex mu_;
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AuditRecord> records_ ABSL_GUARDED_BY(mu_);
};

class SubscriptionExpiryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    audit::StateDb::Options o;
    o.path = dx::testing::MakeTempDir("subexpiry") + "/state";
    auto db = audit::StateDb::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    states_ = std::make_unique<RocksDbSubscriptionStates>(db_.get());
    deps_.audit = &audit_;
    deps_.clock = &clock_;
    deps_.node_id = "gw1";
    SubscriptionService::Options options;
    options.idle_expiry = absl::Hours(24 * 30);
    service_ = std::make_unique<SubscriptionService>(
        deps_, std::make_unique<RocksDbSubscriptionStates>(db_.get()), options);
  }

  // A stored subscription last active `ago` before now (nullopt: a state
  // written before the time of activity was kept).
  void Store(const std::string& id, absl::optional<absl::Duration> ago) {
    v1::SubscriptionState s;
    s.set_subscription_id(id);
    s.set_consumer_agency(kAgency);
    s.set_dataset_id(kDataset);
    s.set_purpose_code("civil-registration");
    s.set_acked_sequence(7);
    s.set_acked_position("42");
    s.add_delivered()->set_last_sequence(9);
    if (ago.has_value()) {
      s.set_last_active_unix_micros(absl::ToUnixMicros(clock_.Now() - *ago));
    }
    ASSERT_TRUE(states_->Save(s).ok());
  }
  absl::optional<v1::SubscriptionState> Stored(const std::string& id) {
    auto got = states_->Load(id);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : absl::nullopt;
  }
  int64_t NowMicros() { return absl::ToUnixMicros(clock_.Now()); }

  FakeClock clock_{absl::FromCivil(absl::CivilSecond(2026, 12, 7, 6, 0, 0),
                                   absl::UTCTimeZone())};
  RecordingAuditLog audit_;
  std::unique_ptr<audit::StateDb> db_;
  std::unique_ptr<RocksDbSubscriptionStates> states_;  // the test's view
  ExchangeDeps deps_;
  std::unique_ptr<SubscriptionService> service_;
};

TEST_F(SubscriptionExpiryTest, AnIdleOneIsDeletedAfterItsRecordARecentOneKept) {
  Store("idle", absl::Hours(24 * 31));
  Store("recent", absl::Hours(24 * 29));  // acked or resumed 29 days ago
  SubscriptionService::ExpirySweep sweep = service_->ExpireIdle();
  ASSERT_TRUE(sweep.status.ok()) << sweep.status;
  EXPECT_EQ(sweep.expired, 1);
  EXPECT_FALSE(Stored("idle").has_value());
  ASSERT_TRUE(Stored("recent").has_value());
  // Untouched: its time of activity is the ack's, not the sweep's.
  EXPECT_EQ(Stored("recent")->last_active_unix_micros(),
            NowMicros() - absl::ToInt64Microseconds(absl::Hours(24 * 29)));

  const std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 1u);
  const v1::AuditRecord& r = records[0];
  EXPECT_EQ(r.kind(), v1::RECORD_KIND_SUBSCRIPTION_CONTROL);
  EXPECT_EQ(r.decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(r.subscription_id(), "idle");
  EXPECT_EQ(r.consumer_agency(), kAgency);
  EXPECT_EQ(r.dataset_id(), kDataset);
  EXPECT_EQ(r.node_id(), "gw1");
  EXPECT_EQ(r.last_event_sequence(), 7u);
  EXPECT_EQ(r.subscription_event(),
            "expired: idle since 2026-11-06T06:00:00Z (idle_expiry_days 30)");

  // Two days on, the recent one has been idle 31 days: it goes too.
  clock_.Advance(absl::Hours(48));
  sweep = service_->ExpireIdle();
  ASSERT_TRUE(sweep.status.ok()) << sweep.status;
  EXPECT_EQ(sweep.expired, 1);
  EXPECT_FALSE(Stored("recent").has_value());
  EXPECT_EQ(audit_.records().size(), 2u);
}

TEST_F(SubscriptionExpiryTest, OneBeingServedIsKeptAndDatedHoweverOld) {
  Store("served", absl::Hours(24 * 365));
  ASSERT_TRUE(
      SubscriptionServiceTestPeer::MarkServed(service_.get(), "served").ok());
  SubscriptionService::ExpirySweep sweep = service_->ExpireIdle();
  ASSERT_TRUE(sweep.status.ok()) << sweep.status;
  EXPECT_EQ(sweep.expired, 0);
  EXPECT_EQ(sweep.served, 1);
  ASSERT_TRUE(Stored("served").has_value());
  // Dated now: a crash of the node during a long quiet stream does not
  // expire it at the next start.
  EXPECT_EQ(Stored("served")->last_active_unix_micros(), NowMicros());
  // Only its time changed: the batches delivered are still there.
  EXPECT_EQ(Stored("served")->delivered_size(), 1);
  EXPECT_TRUE(audit_.records().empty());
}

TEST_F(SubscriptionExpiryTest, AStreamsEndDatesItSoItsIdleTimeCountsFromThere) {
  Store("s", absl::Hours(24 * 100));
  ASSERT_TRUE(
      SubscriptionServiceTestPeer::MarkServed(service_.get(), "s").ok());
  clock_.Advance(absl::Hours(1));  // served, no sweep meanwhile
  ASSERT_TRUE(SubscriptionServiceTestPeer::EndServed(service_.get(), "s").ok());
  ASSERT_TRUE(Stored("s").has_value());
  EXPECT_EQ(Stored("s")->last_active_unix_micros(), NowMicros());
  clock_.Advance(absl::Hours(24 * 29));
  SubscriptionService::ExpirySweep sweep = service_->ExpireIdle();
  ASSERT_TRUE(sweep.status.ok()) << sweep.status;
  EXPECT_EQ(sweep.expired, 0);
  EXPECT_EQ(sweep.served, 0);
  EXPECT_TRUE(Stored("s").has_value());
}

TEST_F(SubscriptionExpiryTest, AStateOfAnOlderVersionIsDatedNotExpired) {
  Store("old", absl::nullopt);
  SubscriptionService::ExpirySweep sweep = service_->ExpireIdle();
  ASSERT_TRUE(sweep.status.ok()) << sweep.status;
  EXPECT_EQ(sweep.expired, 0);
  EXPECT_EQ(sweep.stamped, 1);
  ASSERT_TRUE(Stored("old").has_value());
  EXPECT_EQ(Stored("old")->last_active_unix_micros(), NowMicros());
  EXPECT_TRUE(audit_.records().empty());
  // The limit counts from that first sweep.
  clock_.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  EXPECT_EQ(service_->ExpireIdle().expired, 0);
  EXPECT_TRUE(Stored("old").has_value());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(service_->ExpireIdle().expired, 1);
  EXPECT_FALSE(Stored("old").has_value());
}

TEST_F(SubscriptionExpiryTest, WhenTheLogRefusesTheRecordTheStateStays) {
  Store("idle", absl::Hours(24 * 40));
  audit_.Fail(absl::UnavailableError("disk full"));
  SubscriptionService::ExpirySweep sweep = service_->ExpireIdle();
  EXPECT_FALSE(sweep.status.ok());
  EXPECT_NE(sweep.status.message().find("disk full"), std::string::npos);
  EXPECT_EQ(sweep.expired, 0);
  EXPECT_TRUE(Stored("idle").has_value());
  EXPECT_TRUE(audit_.records().empty());
  // The log back: the next sweep records it, then deletes it.
  audit_.Fail(absl::OkStatus());
  sweep = service_->ExpireIdle();
  ASSERT_TRUE(sweep.status.ok()) << sweep.status;
  EXPECT_EQ(sweep.expired, 1);
  EXPECT_FALSE(Stored("idle").has_value());
  EXPECT_EQ(audit_.records().size(), 1u);
}

TEST_F(SubscriptionExpiryTest, AStoppedServiceSweepsNothing) {
  Store("idle", absl::Hours(24 * 40));
  service_->StopAccepting();
  EXPECT_EQ(service_->ExpireIdle().expired, 0);
  EXPECT_TRUE(Stored("idle").has_value());
}

}  // namespace
}  // namespace dx::gateway
