#include "gateway/exchange_log.h"

#include <gtest/gtest.h>

#include "common/testing/fake_clock.h"

namespace dx::gateway {
namespace {

struct Line {
  std::string level, message;
  std::vector<LogField> fields;
  std::string Field(const std::string& key) const {
    for (const auto& f : fields) {
      if (f.key == key) return f.value;
    }
    return "(absent)";
  }
};

ExchangeOutcome Refused(const std::string& id, int64_t seq) {
  ExchangeOutcome o;
  o.request_id = id;
  o.audit_sequence = seq;
  o.dataset = "bca.population";
  o.decision = v1::DECISION_DENY;
  o.reason = v1::REASON_CERT_REVOKED;
  o.grpc_code = 7;
  return o;
}

TEST(ExchangeLogTest, LogsRefusalsWithRequestIdAndSequenceNotAllowedOnes) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  std::vector<Line> lines;
  ExchangeLog log(
      &clock, 10,
      [&](absl::string_view level, absl::string_view message,
          const std::vector<LogField>& fields) {
        lines.push_back({std::string(level), std::string(message), fields});
      });
  ExchangeOutcome allowed = Refused("ok-1", 1);
  allowed.decision = v1::DECISION_ALLOW;
  allowed.reason = v1::REASON_UNSPECIFIED;
  allowed.grpc_code = 0;
  log.ExchangeClosed(allowed);
  EXPECT_TRUE(lines.empty());
  log.ExchangeClosed(Refused("r-2", 2));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].message, "exchange refused");
  EXPECT_EQ(lines[0].Field("request_id"), "r-2");
  EXPECT_EQ(lines[0].Field("audit_sequence"), "2");
  EXPECT_EQ(lines[0].Field("reason"), "REASON_CERT_REVOKED");
  EXPECT_EQ(lines[0].Field("grpc_code"), "PermissionDenied");
  ExchangeOutcome failed = Refused("r-3", -1);
  failed.decision = v1::DECISION_ERROR;
  log.ExchangeClosed(failed);
  EXPECT_EQ(lines.back().level, "warning");
  EXPECT_EQ(lines.back().Field("audit_sequence"), "-1");
}

TEST(ExchangeLogTest, AFloodIsCutAndTheNextLineSaysHowMuch) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  int written = 0;
  std::string suppressed;
  ExchangeLog log(&clock, 5,
                  [&](absl::string_view, absl::string_view,
                      const std::vector<LogField>& fields) {
                    ++written;
                    for (const auto& f : fields) {
                      if (f.key == "suppressed_before") suppressed = f.value;
                    }
                  });
  for (int i = 0; i < 100; ++i) log.ExchangeClosed(Refused("r", i));
  EXPECT_EQ(written, 5);
  clock.Advance(absl::Seconds(1));
  log.ExchangeClosed(Refused("next", 100));
  EXPECT_EQ(written, 6);
  EXPECT_EQ(suppressed, "95");
}

}  // namespace
}  // namespace dx::gateway
