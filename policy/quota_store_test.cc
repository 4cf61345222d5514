#include "policy/quota_store.h"

#include "common/testing/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_authorizer.h"
#include "policy/quota_store_conformance.h"
#include "policy/testing/fixtures.h"

namespace dx::policy {
namespace {

using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(
    Local, QuotaStoreConformance,
    ::testing::Values(QuotaStoreFactory{
        "Local", [] { return std::make_unique<LocalQuotaStore>(); }}),
    QuotaFactoryName);

TEST(QuotaWindowsTest, MinutesAndVietnameseDays) {
  // 2025-11-24 16:59:59 UTC is 23:59:59 in Hanoi; a second later, a new day.
  const absl::Time before = absl::FromUnixSeconds(1764003599);
  EXPECT_EQ(VietnamDayWindow(before) + 1,
            VietnamDayWindow(before + absl::Seconds(1)));
  EXPECT_EQ(MinuteWindow(before) + 1, MinuteWindow(before + absl::Seconds(1)));
  EXPECT_EQ(SecondsToNextMinute(before), 1);
}

// The authorizer charges a grant's quotas in the store.
TEST(PolicyAuthorizerQuotaTest, RequestsPerMinuteAndRecordsPerDay) {
  auto snap = PolicySnapshot::Compile(testing::TestRegistry(), testing::Doc(R"(
datasets:
  - dataset: pop
    grants:
      - {id: q, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         fields: [status], quota: {requests_per_minute: 2, records_per_day: 10}}
)"),
                                      nullptr, 1, absl::Now(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  // 2025-11-24 10:00:30 +07: mid-minute, mid-day.
  FakeClock clock(absl::FromUnixSeconds(1763953230));
  LocalQuotaStore quotas;
  PolicyAuthorizer authz(*snap, &quotas, &clock);
  AccessRequest r = testing::Req("000.00.00.H30", "pop", "p");
  r.max_records = 4;
  AccessDecision d = testing::DecideNow(authz, r);
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.max_records, 4u);
  d.records_charge->Use(4);
  r.max_records = 100;
  d = testing::DecideNow(authz, r);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.max_records, 6u);      // what is left today
  d = testing::DecideNow(authz, r);  // third in the same minute
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(d.reason, v1::REASON_QUOTA_EXCEEDED);
  EXPECT_THAT(d.message, HasSubstr("2 requests per minute"));
  EXPECT_THAT(d.message, HasSubstr("retry in 30 s"));
  clock.Advance(absl::Seconds(30));  // the next minute; nothing was used
  d = testing::DecideNow(authz, r);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.max_records, 6u);
  d.records_charge->Use(6);  // the day's 10 are used
  d = testing::DecideNow(authz, r);
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr("10 records per day"));
  // Midnight in Vietnam (17:00 UTC) renews the day.
  clock.Set(absl::FromUnixSeconds(1764003600) - absl::Seconds(1));
  EXPECT_FALSE(testing::DecideNow(authz, r).allowed);  // 23:59:59 in Hanoi
  clock.Set(absl::FromUnixSeconds(1764003600));
  d = testing::DecideNow(authz, r);
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.max_records, 10u);
}

// A decision made again about a call already admitted (a subscription
// under way, before each batch) takes no quota: a feed with a
// requests-per-minute grant is not ended by its own rechecks.
TEST(PolicyAuthorizerQuotaTest, ADecisionMadeAgainTakesNoQuota) {
  auto snap = PolicySnapshot::Compile(testing::TestRegistry(), testing::Doc(R"(
datasets:
  - dataset: pop
    grants:
      - {id: q, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         fields: [status], quota: {requests_per_minute: 1, records_per_day: 10}}
)"),
                                      nullptr, 1, absl::Now(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  FakeClock clock(absl::FromUnixSeconds(1763953230));
  LocalQuotaStore quotas;
  PolicyAuthorizer authz(*snap, &quotas, &clock);
  AccessRequest r = testing::Req("000.00.00.H30", "pop", "p");
  ASSERT_TRUE(testing::DecideNow(authz, r).allowed);  // the minute's one
  r.charge_quota = false;
  for (int i = 0; i < 5; ++i) {
    AccessDecision d = testing::DecideNow(authz, r);
    ASSERT_TRUE(d.allowed) << d.message;
    EXPECT_EQ(d.records_charge, nullptr);
  }
  r.charge_quota = true;
  EXPECT_EQ(testing::DecideNow(authz, r).reason, v1::REASON_QUOTA_EXCEEDED);
}

// A store that cannot be reached: nothing is served (fail closed).
class UnreachableQuotaStore final : public QuotaStore {
 public:
  void Take(std::vector<QuotaTake>, Cancellation*, TakeCallback done) override {
    done(absl::UnavailableError("etcd: no quorum"));
  }
  void PutBack(const QuotaBucket&, uint64_t) override {}
};

TEST(PolicyAuthorizerQuotaTest, AnUnreachableStoreRefuses) {
  auto snap = PolicySnapshot::Compile(testing::TestRegistry(), testing::Doc(R"(
datasets:
  - dataset: pop
    grants:
      - {id: q, consumers: [000.00.00.H30], purposes: [p], legal_basis: x,
         fields: [status], quota: {requests_per_minute: 2}}
)"),
                                      nullptr, 1, absl::Now(), nullptr);
  ASSERT_TRUE(snap.ok());
  FakeClock clock(absl::Now());
  UnreachableQuotaStore quotas;
  PolicyAuthorizer authz(*snap, &quotas, &clock);
  AccessDecision d =
      testing::DecideNow(authz, testing::Req("000.00.00.H30", "pop", "p"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, absl::StatusCode::kUnavailable);
  EXPECT_EQ(d.reason, v1::REASON_QUOTA_STORE_UNAVAILABLE);
  EXPECT_THAT(d.message, HasSubstr("no quorum"));
}

}  // namespace
}  // namespace dx::policy
